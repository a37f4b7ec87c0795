//! Output buffers that are not zeroed on the calling thread.
//!
//! `vec![0.0; len]` of a block the allocator reuses is a `memset` of the whole buffer, done by
//! the thread that allocates: for the CPU ops that is the caller of the op, while rayon's
//! workers wait, and it goes to memory (the buffers are 4-16 MB). Measured on the FNO training
//! step, that serial `memset` was 81% of the calling thread's samples and 9% of the step's CPU
//! time. Here the buffer is allocated uninitialised and split into planes; whichever task
//! takes a plane initialises it (in its cache, right before writing it for real), and the
//! buffer becomes a `Vec<T>` only once every plane was.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

/// A buffer of `len` values in planes of `plane` (the last one shorter where `plane` does not
/// divide `len`), each plane initialised by whoever takes it.
pub(crate) struct FreshPlanes<T> {
    buf: Vec<MaybeUninit<T>>,
    plane: usize,
    done: AtomicUsize,
}

/// One plane of a [`FreshPlanes`], not yet initialised.
pub(crate) struct FreshPlane<'a, T> {
    data: &'a mut [MaybeUninit<T>],
    done: &'a AtomicUsize,
}

impl<T: bytemuck::Pod> FreshPlanes<T> {
    /// `len` values in planes of `plane`, uninitialised.
    pub(crate) fn new(len: usize, plane: usize) -> Self {
        let mut buf = Vec::with_capacity(len);
        // SAFETY: `MaybeUninit<T>` needs no initialisation, and the capacity is `len`.
        unsafe { buf.set_len(len) };
        Self {
            buf,
            plane,
            done: AtomicUsize::new(0),
        }
    }

    /// The planes, in order.
    pub(crate) fn planes(&mut self) -> Vec<FreshPlane<'_, T>> {
        let done = &self.done;
        self.buf
            .chunks_mut(self.plane.max(1))
            .map(|data| FreshPlane { data, done })
            .collect()
    }

    /// The values, once every plane was initialised.
    ///
    /// # Panics
    /// If a plane was not (a task did not run, which is a bug of the caller).
    pub(crate) fn into_vec(self) -> Vec<T> {
        let planes = self.buf.len().div_ceil(self.plane.max(1));
        assert_eq!(
            self.done.load(Ordering::Acquire),
            planes,
            "FreshPlanes: a plane was never initialised"
        );
        let mut buf = std::mem::ManuallyDrop::new(self.buf);
        let (ptr, len, cap) = (buf.as_mut_ptr(), buf.len(), buf.capacity());
        // SAFETY: every plane, and so every value, was initialised (counted above, each plane
        // once: `FreshPlane::zeroed` consumes it); `MaybeUninit<T>` has `T`'s size and
        // alignment, and the allocation is handed over whole.
        unsafe { Vec::from_raw_parts(ptr.cast::<T>(), len, cap) }
    }
}

impl<'a, T: bytemuck::Pod> FreshPlane<'a, T> {
    /// The plane, zeroed.
    pub(crate) fn zeroed(self) -> &'a mut [T] {
        // SAFETY: all-zero bytes are a valid `T` (`Pod` implies `Zeroable`), and the slice is
        // an exclusive borrow of `len` values. `write_bytes` is a `memset`; a `fill` with
        // `MaybeUninit::new(zero)` compiled to a loop of its own (2.5% of the FNO step in perf).
        unsafe { std::ptr::write_bytes(self.data.as_mut_ptr(), 0, self.data.len()) };
        self.done.fetch_add(1, Ordering::Release);
        // SAFETY: every value was just written.
        unsafe { &mut *(std::ptr::from_mut::<[MaybeUninit<T>]>(self.data) as *mut [T]) }
    }
}

/// The planes of `planes`, each as `Some`, or `count` times `None` without a buffer (an output
/// that was not asked for), for zipping with the samples.
pub(crate) fn planes_or_none<T: bytemuck::Pod>(
    planes: Option<&mut FreshPlanes<T>>,
    count: usize,
) -> Vec<Option<FreshPlane<'_, T>>> {
    match planes {
        Some(p) => p.planes().into_iter().map(Some).collect(),
        None => (0..count).map(|_| None).collect(),
    }
}

/// A plane to write: one of a [`FreshPlanes`], or one of a buffer that already holds values.
pub(crate) enum OutPlane<'a, T> {
    /// Not yet initialised: zeroed when taken.
    Fresh(FreshPlane<'a, T>),
    /// Initialised.
    Given(&'a mut [T]),
}

impl<'a, T: bytemuck::Pod> OutPlane<'a, T> {
    /// The plane, ready to write (a fresh one zeroed).
    pub(crate) fn take(self) -> &'a mut [T] {
        match self {
            Self::Fresh(p) => p.zeroed(),
            Self::Given(p) => p,
        }
    }
}

/// `len` zeros, written by rayon's workers in parallel rather than by the calling thread (for
/// buffers that a parallel kernel then overwrites as a whole).
pub(crate) fn zeroed_in_parallel<T: bytemuck::Pod + Send>(len: usize) -> Vec<T> {
    const CHUNK: usize = 1 << 15;
    let mut planes = FreshPlanes::<T>::new(len, CHUNK);
    planes.planes().into_par_iter().for_each(|p| {
        p.zeroed();
    });
    planes.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_come_back_in_order_once_all_are_written() {
        let mut p = FreshPlanes::<f32>::new(12, 4);
        for (i, plane) in p.planes().into_iter().enumerate() {
            plane.zeroed().iter_mut().for_each(|v| *v = i as f32);
        }
        assert_eq!(
            p.into_vec(),
            vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
        );
        assert_eq!(zeroed_in_parallel::<f64>(100_001), vec![0.0; 100_001]);
        assert!(zeroed_in_parallel::<f32>(0).is_empty());
    }

    #[test]
    #[should_panic(expected = "never initialised")]
    fn a_plane_left_out_is_refused() {
        let mut p = FreshPlanes::<f32>::new(8, 4);
        let mut planes = p.planes();
        planes.pop();
        planes.into_iter().for_each(|q| {
            q.zeroed();
        });
        p.into_vec();
    }
}

//! Moving values between burn's `flex` CPU tensors and the slices the CPU kernels work on.

use burn::tensor::TensorData;
use burn_flex::FlexTensor;

/// The tensor's values in row-major order: borrowed when it is contiguous, copied otherwise.
pub(crate) fn host<T: burn::tensor::Element + bytemuck::Pod>(
    t: &FlexTensor,
) -> std::borrow::Cow<'_, [T]> {
    match t.as_slice::<T>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<T>().unwrap().to_vec()),
    }
}

/// `t` in a contiguous layout, its buffer held by no other tensor where `t`'s was not shared,
/// so that `storage_mut` writes it in place. `FlexTensor::to_contiguous` borrows and hands back
/// a second handle to the same buffer; while the first one lives, `storage_mut` sees a shared
/// buffer and copies it (it did, for an 8 MB buffer per FNO block and step, on the calling
/// thread while the pool waited).
pub(crate) fn into_contiguous(t: FlexTensor) -> FlexTensor {
    t.to_contiguous()
}

/// The tensor's shape.
pub(crate) fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

/// A tensor of `shape` holding `v` in row-major order.
pub(crate) fn tensor<T: burn::tensor::Element>(v: Vec<T>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn into_contiguous_keeps_a_unique_buffer_writable_in_place() {
        let mut t = into_contiguous(tensor(vec![1.0f32, 2.0, 3.0], vec![3]));
        assert!(t.try_storage_mut::<f32>().is_some());
        // A buffer another tensor holds stays shared (storage_mut would copy it).
        let other = tensor(vec![1.0f32, 2.0], vec![2]);
        let mut shared = into_contiguous(other.clone());
        assert!(shared.try_storage_mut::<f32>().is_none());
        drop(other);
    }
}

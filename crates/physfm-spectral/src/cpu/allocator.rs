//! Keeping freed memory in the process: a CPU training step allocates and frees the same
//! 4-16 MB activation and gradient buffers at every step, and glibc's default `malloc`
//! serves blocks that large with `mmap` and returns them with `munmap` (or trims them off the
//! heap), so every step faults every page of them back in: measured at a fifth to a third of
//! the FNO training step's CPU time (docs/performance.md).
#![allow(unsafe_code)]

/// The largest block glibc will still serve from its heaps instead of `mmap`: its own
/// ceiling for the threshold on 64-bit targets (`DEFAULT_MMAP_THRESHOLD_MAX`, 32 MiB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;

/// Makes glibc's `malloc` keep freed memory for reuse instead of handing it back to the
/// kernel: blocks up to 32 MiB come from its heaps rather than `mmap`, and the heaps are never
/// trimmed (`mallopt(M_MMAP_THRESHOLD)`, `mallopt(M_TRIM_THRESHOLD)`). The process keeps its
/// peak heap size; a training step then reuses its buffers instead of faulting their pages in
/// again at every step.
///
/// It changes a process-wide setting, so physfm's library code never calls it: physfm's own
/// binaries (`cargo xtask`, `physfm-train`, the benchmarks) do, at start-up, and programs that
/// train on the CPU with physfm can. Returns whether the settings were applied: `false` on
/// targets other than Linux with glibc, where it does nothing.
///
/// ```
/// let applied = physfm_spectral::cpu::retain_freed_memory();
/// assert_eq!(applied, cfg!(all(target_os = "linux", target_env = "gnu")));
/// ```
pub fn retain_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes malloc's tuning parameters; it is safe to call at any
        // time from any thread (glibc takes its arena locks).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

//! glibc's allocator returns every large tensor buffer to the kernel (mmap above 128 KiB, trim
//! on free) and page-faults it back in on the next step: on these machines that costs more than
//! the arithmetic. Told to keep freed memory, the same SimCSE step runs 1.64× faster on flex
//! (12.3 vs 7.5 sentences/s, ~20 % more peak memory); the PyTorch peer shows the same effect.

/// Makes glibc keep freed memory for reuse (no mmap for large blocks, no trimming), unless
/// `CONTRASTIVE_DEFAULT_MALLOC` is set (for A/B measurements). A no-op off glibc.
pub fn keep_freed_memory() {
    if std::env::var_os("CONTRASTIVE_DEFAULT_MALLOC").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before the threads that
    // allocate tensors start.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

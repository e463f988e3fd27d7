//! Whether this machine has a WGPU adapter, shared by the parity tests.

use burn::backend::Wgpu;
use burn::tensor::Tensor;

/// Whether a WGPU adapter answers; `None` (after printing why) means skip.
pub fn wgpu_available() -> Option<()> {
    let probe = std::panic::catch_unwind(|| {
        Tensor::<Wgpu, 1>::ones([1], &Default::default()).into_scalar()
    });
    match probe {
        Ok(_) => Some(()),
        Err(_) if std::env::var("CONTRASTIVE_REQUIRE_WGPU").is_ok_and(|v| v == "1") => {
            panic!("CONTRASTIVE_REQUIRE_WGPU=1 but no WGPU adapter (install mesa-vulkan-drivers)")
        }
        Err(_) => {
            eprintln!("SKIPPED: no WGPU adapter (install mesa-vulkan-drivers for a software Vulkan driver)");
            None
        }
    }
}

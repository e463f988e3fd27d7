//! The backend compiled into this binary, chosen by cargo feature (`cuda` > `wgpu` > `flex` >
//! `ndarray`), and the device a run uses. The only place a backend type is named.

use anyhow::{bail, Result};
use burn::backend::Autodiff;
use burn::tensor::{Device, Tensor};

#[cfg(feature = "cuda")]
mod selected {
    pub type Backend = burn::backend::Cuda;
    pub const NAME: &str = "cuda";
    pub const IS_GPU: bool = true;
    pub fn device(index: usize) -> burn::tensor::Device<Backend> {
        burn::backend::cuda::CudaDevice::new(index)
    }
}

#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
mod selected {
    pub type Backend = burn::backend::Wgpu;
    pub const NAME: &str = "wgpu";
    pub const IS_GPU: bool = true;
    pub fn device(index: usize) -> burn::tensor::Device<Backend> {
        if index == 0 {
            burn::backend::wgpu::WgpuDevice::DefaultDevice
        } else {
            burn::backend::wgpu::WgpuDevice::DiscreteGpu(index)
        }
    }
}

#[cfg(all(feature = "flex", not(any(feature = "cuda", feature = "wgpu"))))]
mod selected {
    pub type Backend = burn::backend::Flex;
    pub const NAME: &str = "flex";
    pub const IS_GPU: bool = false;
    pub fn device(_index: usize) -> burn::tensor::Device<Backend> {
        Default::default()
    }
}

#[cfg(all(
    feature = "ndarray",
    not(any(feature = "cuda", feature = "wgpu", feature = "flex"))
))]
mod selected {
    pub type Backend = burn::backend::NdArray;
    pub const NAME: &str = "ndarray";
    pub const IS_GPU: bool = false;
    pub fn device(_index: usize) -> burn::tensor::Device<Backend> {
        Default::default()
    }
}

#[cfg(not(any(
    feature = "ndarray",
    feature = "flex",
    feature = "wgpu",
    feature = "cuda"
)))]
compile_error!("train-app needs one backend feature: ndarray (default), flex, wgpu or cuda");

/// The inference backend of this build.
pub type InferenceBackend = selected::Backend;
/// The training backend of this build (autodiff over the inference backend).
pub type TrainBackend = Autodiff<InferenceBackend>;
/// Name of the compiled backend, as its cargo feature is spelled.
pub const NAME: &str = selected::NAME;

/// The device for `--device index`, checked by running one small operation on it so that a
/// missing driver is a clear error here rather than a panic in the middle of a run.
pub fn device(index: usize) -> Result<Device<InferenceBackend>> {
    if !selected::IS_GPU && index != 0 {
        bail!("--device {index}: the {NAME} backend has only one device (0); build with --features cuda or wgpu for GPUs");
    }
    let device = selected::device(index);
    let probe = device.clone();
    let result = std::panic::catch_unwind(move || {
        Tensor::<InferenceBackend, 1>::ones([2], &probe)
            .sum()
            .into_scalar()
    });
    match result {
        Ok(_) => Ok(device),
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown reason".into());
            bail!("the {NAME} backend cannot use device {index}: {reason} (is the GPU driver installed and visible?)")
        }
    }
}

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
    first_panic_of(move || {
        Tensor::<InferenceBackend, 1>::ones([2], &probe).sum().into_scalar();
    })
    .map_err(|reason| {
        anyhow::anyhow!("the {NAME} backend cannot use device {index}: {reason} (is the GPU driver installed and visible?)")
    })?;
    Ok(device)
}

/// Runs `f`; if it or a thread it waits on panics, returns the first panic's message instead
/// of printing a backtrace. (A backend that fails to load its driver panics in a worker
/// thread; the caller only sees a closed channel.)
fn first_panic_of(f: impl FnOnce() + std::panic::UnwindSafe) -> std::result::Result<(), String> {
    use std::sync::{Arc, Mutex};
    let first = Arc::new(Mutex::new(None::<String>));
    let sink = first.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        let mut slot = sink.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(message);
    }));
    let outcome = std::panic::catch_unwind(f);
    std::panic::set_hook(previous);
    let message = first.lock().unwrap_or_else(|e| e.into_inner()).take();
    match outcome {
        Ok(()) => Ok(()),
        Err(_) => Err(message.unwrap_or_else(|| "unknown panic".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_panic_is_reported_even_from_another_thread() {
        assert_eq!(first_panic_of(|| {}), Ok(()));
        let err = first_panic_of(|| {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            std::thread::spawn(move || {
                let _tx = tx;
                panic!("Unable to dynamically load the \"cuda\" shared library");
            });
            rx.recv().unwrap();
        })
        .unwrap_err();
        assert!(err.contains("Unable to dynamically load"), "{err}");
    }
}

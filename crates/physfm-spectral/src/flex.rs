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

/// The tensor's shape.
pub(crate) fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

/// A tensor of `shape` holding `v` in row-major order.
pub(crate) fn tensor<T: burn::tensor::Element>(v: Vec<T>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

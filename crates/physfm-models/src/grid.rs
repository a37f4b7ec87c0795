//! Grid helpers shared by the convolutional models (U-Net, AViT).

use burn::tensor::Tensor;

/// Zero-pads the spatial axes of `x` (`[batch, channels, h, w]`; a 1D field has `h = 1`, which
/// stays unpadded) at their ends up to multiples of `multiple`. Crop the result back with
/// `narrow(2, 0, h).narrow(3, 0, w)`.
pub(crate) fn pad_to_multiple(x: Tensor<4>, dims: usize, multiple: usize) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let up_to = |n: usize| n.div_ceil(multiple) * multiple;
    let (ph, pw) = if dims == 1 {
        (h, up_to(w))
    } else {
        (up_to(h), up_to(w))
    };
    if (ph, pw) == (h, w) {
        return x;
    }
    x.pad(
        (0, pw - w, 0, ph - h),
        burn::tensor::ops::PadMode::Constant(0.0),
    )
}

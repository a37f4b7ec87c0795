//! Every named preset builds, has its recorded parameter count (neuraloperator's own count
//! for the FNO and TFNO presets) and maps an input of the documented shape to the
//! documented output shape.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use physfm_models::{ModelPreset, PRESETS, preset};

/// Parameter counts. FNO/TFNO: `sum(p.numel() * (2 if complex else 1))` of neuraloperator
/// 2.0's `FNO`/`TFNO` with the same arguments (xtask/.venv, 2026-11-29). Others: the
/// architecture's count, checked layer by layer in tests/unet.rs and tests/avit.rs.
const COUNTS: &[(&str, usize)] = &[
    ("fno1d", 345_665),
    ("fno2d", 701_281),
    ("fno3d", 658_897),
    ("tfno2d", 78_145),
    ("fno1d-pdebench", 28_061),
    ("unet1d", 7_571_137),
    ("unet2d", 18_165_314),
    ("avit-ti", 7_221_123),
    ("avit-s", 28_782_339),
    ("avit-b", 114_925_059),
    ("epd1d-four-families", 371_124),
];

#[test]
fn every_preset_builds_with_its_parameter_count_and_shapes() {
    let device = Device::flex();
    for (name, _) in PRESETS {
        let p = preset(name).unwrap_or_else(|| panic!("{name} is listed but not built"));
        let (params, ok) = match p {
            ModelPreset::Fno(c) => {
                let m = c.init(&device);
                let ok = match c.n_modes.len() {
                    1 => {
                        m.forward(Tensor::<3>::zeros([2, c.in_channels, 40], &device))
                            .dims()
                            == [2, c.out_channels, 40]
                    }
                    2 => {
                        m.forward(Tensor::<4>::zeros([1, c.in_channels, 30, 24], &device))
                            .dims()
                            == [1, c.out_channels, 30, 24]
                    }
                    _ => {
                        m.forward(Tensor::<5>::zeros([1, c.in_channels, 16, 16, 16], &device))
                            .dims()
                            == [1, c.out_channels, 16, 16, 16]
                    }
                };
                (m.num_params(), ok)
            }
            ModelPreset::UNet(c) => {
                let m = c.init(&device);
                let cond = Some(Tensor::<2>::ones([1, c.cond_dims], &device));
                let ok = if c.dims == 1 {
                    m.forward(Tensor::<3>::zeros([1, c.in_channels, 20], &device), cond)
                        .dims()
                        == [1, c.out_channels, 20]
                } else {
                    m.forward(
                        Tensor::<4>::zeros([1, c.in_channels, 20, 12], &device),
                        cond,
                    )
                    .dims()
                        == [1, c.out_channels, 20, 12]
                };
                (m.num_params(), ok)
            }
            ModelPreset::AViT(c) => {
                let m = c.init(&device);
                let y: Tensor<4> =
                    m.forward(Tensor::<5>::ones([1, 2, c.in_channels, 32, 32], &device));
                (m.num_params(), y.dims() == [1, c.out_channels, 32, 32])
            }
            ModelPreset::Epd(c) => {
                let m = c.init(&device);
                let y = m.step::<3>(
                    2,
                    Tensor::<3>::ones([2, 1, 256], &device),
                    &[0.5, 0.5],
                    &[4.0, 4.2],
                    None,
                );
                (m.num_params(), y.dims() == [2, 1, 256])
            }
        };
        assert!(ok, "{name}: output shape");
        println!("{name}: {params} parameters");
        let (_, n) = COUNTS
            .iter()
            .find(|(k, _)| k == name)
            .expect("a recorded count");
        assert_eq!(params, *n, "{name}");
    }
}

//! neuraloperator FNO checkpoints converted by physfm give PyTorch's outputs. The fixtures
//! were written by `cargo xtask parity import` (neuraloperator 2.0 in a virtual
//! environment); this test needs no Python.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use physfm_models::{Checkpoint, Fno, FnoConfig, ModelError, import_neuralop_fno};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    name: String,
    checkpoint: String,
    config: Option<FnoConfig>,
    x_shape: Vec<usize>,
    x: Vec<f32>,
    y_shape: Vec<usize>,
    y: Vec<f64>,
    n_params: usize,
}

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/neuralop")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("cases.json")).unwrap();
    serde_json::from_str::<Cases>(&text).unwrap().cases
}

fn forward(fno: &Fno, x: Vec<f32>, shape: &[usize], device: &Device) -> Vec<f64> {
    let data = TensorData::new(x, shape.to_vec());
    let y = match shape.len() {
        3 => fno
            .forward(Tensor::<3>::from_data(data, device))
            .into_data(),
        4 => fno
            .forward(Tensor::<4>::from_data(data, device))
            .into_data(),
        5 => fno
            .forward(Tensor::<5>::from_data(data, device))
            .into_data(),
        d => panic!("{d}-axis input"),
    };
    y.try_to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

#[test]
fn converted_checkpoints_give_pytorchs_outputs() {
    let device = Device::flex();
    let cases = cases();
    assert_eq!(cases.len(), 7);
    for c in &cases {
        let path = fixtures().join(&c.checkpoint);
        let (config, fno) = import_neuralop_fno(&path, c.config.clone(), &device)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(fno.num_params(), c.n_params, "{}: parameter count", c.name);
        assert_eq!(config.n_modes.len() + 2, c.x_shape.len());
        let y = forward(&fno, c.x.clone(), &c.x_shape, &device);
        assert_eq!(y.len(), c.y_shape.iter().product::<usize>());
        let rel = rel_l2(&y, &c.y);
        println!("{}: relative L2 difference to PyTorch {rel:.2e}", c.name);
        assert!(
            rel < 1e-5,
            "{}: relative L2 difference to PyTorch {rel:e}",
            c.name
        );
    }
}

#[test]
fn configuration_is_read_from_neuraloperators_metadata() {
    let device = Device::flex();
    let (config, _) =
        import_neuralop_fno(&fixtures().join("fno2d_options.pt"), None, &device).unwrap();
    let expected: FnoConfig = toml::from_str(
        r#"
        in_channels = 1
        out_channels = 2
        n_modes = [6, 6]
        width = 8
        n_layers = 2
        norm = "group"
        fno_skip = "soft-gating"
        channel_mlp_skip = "linear"
        domain_padding = 0.25
        lifting_ratio = 1.5
        projection_ratio = 4.0
        channel_mlp_expansion = 0.25
        "#,
    )
    .unwrap();
    assert_eq!(config, expected);
    let (config, _) =
        import_neuralop_fno(&fixtures().join("fno1d_no_mlp.pt"), None, &device).unwrap();
    assert_eq!(config.channel_mlp_expansion, 0.0);
    assert!(!config.positional_embedding);
}

#[test]
fn the_torch_reader_sees_complex_weights_and_metadata() {
    let ckpt = Checkpoint::read(&fixtures().join("fno1d_default.pt")).unwrap();
    let w = ckpt.tensor("fno_blocks.convs.0.weight.tensor").unwrap();
    assert!(w.complex);
    assert_eq!(w.shape, vec![8, 8, 5]);
    assert_eq!(w.values.len(), 8 * 8 * 5 * 2);
    assert_eq!(w.dtype, "complex64");
    let meta = &ckpt.extras["_metadata"];
    assert_eq!(
        meta.get("hidden_channels"),
        Some(&physfm_models::torch::PyValue::Int(8))
    );
    // The same weights read from the safetensors file (view_as_real) are equal.
    let st = Checkpoint::read(&fixtures().join("fno2d_options.safetensors")).unwrap();
    let pt = Checkpoint::read(&fixtures().join("fno2d_options.pt")).unwrap();
    let a = st.tensor("fno_blocks.convs.1.weight.tensor").unwrap();
    let b = pt.tensor("fno_blocks.convs.1.weight.tensor").unwrap();
    assert_eq!(a.values, b.values);
    assert_eq!(a.shape[..4], b.shape[..]);
}

fn import_err(path: &Path, config: Option<FnoConfig>) -> String {
    match import_neuralop_fno(path, config, &Device::flex()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{} imported", path.display()),
    }
}

#[test]
fn bad_checkpoints_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    // A safetensors file without a configuration.
    let msg = import_err(&fixtures().join("fno2d_options.safetensors"), None);
    assert!(msg.contains("configuration"), "{msg}");
    // A configuration that does not fit the weights names the tensor and both shapes.
    let mut wrong = FnoConfig::new(1, 2, &[6, 6], 8);
    wrong.n_layers = 2;
    let msg = import_err(&fixtures().join("fno2d_options.pt"), Some(wrong.clone()));
    assert!(
        msg.contains("`lifting.fcs.0.weight`: float32[12, 3, 1], expected real [16, 3, 1]"),
        "{msg}"
    );
    wrong.lifting_ratio = 1.5;
    wrong.projection_ratio = 4.0;
    wrong.channel_mlp_expansion = 0.25;
    let msg = import_err(&fixtures().join("fno2d_options.pt"), Some(wrong));
    assert!(
        msg.contains("`fno_blocks.fno_skips.0.conv.weight` is missing"),
        "{msg}"
    );
    // Too few layers leaves tensors unused, and they are listed.
    let mut one = FnoConfig::new(2, 1, &[8], 8);
    one.n_layers = 3;
    let msg = import_err(&fixtures().join("fno1d_default.pt"), Some(one));
    assert!(msg.contains("fno_blocks.convs.3.weight.tensor"), "{msg}");
    // A truncated file.
    let bytes = std::fs::read(fixtures().join("fno1d_default.pt")).unwrap();
    let cut = dir.path().join("cut.pt");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let msg = import_err(&cut, None);
    assert!(msg.contains("cut.pt") && msg.contains("ZIP"), "{msg}");
    // Not a checkpoint at all.
    let junk = dir.path().join("junk.pt");
    std::fs::write(&junk, b"hello, world").unwrap();
    let msg = import_err(&junk, None);
    assert!(msg.contains("neither a torch.save"), "{msg}");
    assert!(matches!(
        import_neuralop_fno(&junk, None, &Device::flex()),
        Err(ModelError::Io { .. })
    ));
}

#[test]
fn an_imported_model_round_trips_through_a_model_directory() {
    let device = Device::flex();
    let (config, fno) = import_neuralop_fno(&fixtures().join("fno3d.pt"), None, &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    fno.save(&config, dir.path()).unwrap();
    assert_eq!(physfm_models::model_kind(dir.path()).unwrap(), "physfm.fno");
    let (back, loaded) = Fno::load(dir.path(), &device).unwrap();
    assert_eq!(back, config);
    let x: Vec<f32> = (0..8 * 8 * 6).map(|i| (i as f32 * 0.37).sin()).collect();
    let a = forward(&fno, x.clone(), &[1, 1, 8, 8, 6], &device);
    let b = forward(&loaded, x, &[1, 1, 8, 8, 6], &device);
    assert_eq!(a, b);
}

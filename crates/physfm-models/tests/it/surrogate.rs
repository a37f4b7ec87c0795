//! Every model through the one `Surrogate` interface: the same shapes in and out, the same
//! results as each model's own API, parts that cover every weight, and model directories
//! that load without knowing their kind.

use burn::module::Param;
use burn::tensor::{Device, Distribution, Tensor};
use physfm_models::{
    AViTConfig, AnySurrogate, Conditioning, DatasetSpec, Dynamics, EpdConfig, Factorization,
    FnoConfig, Normalization, Stepper1d, StepperConfig, Surrogate, UNetConfig, load_surrogate,
    parameter_paths, rollout, under,
};

fn norm(channels: usize, params: usize) -> Normalization {
    Normalization {
        field_mean: vec![0.1; channels],
        field_std: vec![1.5; channels],
        delta_mean: vec![0.0; channels],
        delta_std: vec![0.2; channels],
        param_names: (0..params).map(|i| format!("p{i}")).collect(),
        param_log: vec![false; params],
        param_mean: vec![0.5; params],
        param_std: vec![1.0; params],
    }
}

fn fno_stepper(device: &Device, tucker: bool) -> Stepper1d {
    let mut fno = FnoConfig::new(2 * 2 + 1, 2, &[6], 8);
    if tucker {
        fno.factorization = Factorization::Tucker;
        fno.rank = 0.5;
    }
    let cfg = StepperConfig {
        history: 2,
        ..StepperConfig::new(fno, true)
    };
    Stepper1d::new(cfg, norm(2, 1), device).unwrap()
}

fn epd(device: &Device) -> physfm_models::EncodeProcessDecode {
    let spec = |name: &str, channels, params| DatasetSpec {
        name: name.into(),
        channels,
        params,
        periodic: vec![true],
    };
    let mut cfg = EpdConfig::new(vec![spec("a", 1, 1), spec("b", 2, 2)], &[16], 8, &[6], 8);
    cfg.environments = 3;
    cfg.context_dim = 4;
    cfg.init(device)
}

fn unet(device: &Device) -> physfm_models::UNet {
    let mut cfg = UNetConfig::new(2, 1, 1);
    cfg.hidden = 8;
    cfg.channel_mults = vec![1, 2];
    cfg.norm_groups = 4;
    cfg.cond_dims = 2;
    cfg.init(device)
}

fn avit(device: &Device) -> physfm_models::AViT {
    let mut cfg = AViTConfig::new(1, 1, 2);
    cfg.embed_dim = 16;
    cfg.heads = 2;
    cfg.blocks = 1;
    cfg.patch = vec![2, 2];
    cfg.history = 3;
    cfg.init(device)
}

/// A window of the model's history and channels on `space`, and a conditioning that fits it.
fn input(
    model: &impl Surrogate,
    dataset: usize,
    space: &[usize],
    device: &Device,
) -> (Tensor<4>, Conditioning) {
    let b = 3;
    let n: usize = space.iter().product();
    let frames = Tensor::<4>::random(
        [b, model.history(), model.channels(dataset), n],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let p = model.coefficients(dataset).unwrap_or(0);
    let cond = Conditioning::new(vec![0.05, 0.1, 0.2])
        .with_coefficients((0..b * p).map(|i| 0.3 + 0.1 * i as f64).collect())
        .with_dataset(dataset);
    (frames, cond)
}

fn max_abs(t: Tensor<3>) -> f32 {
    t.abs().max().into_scalar::<f32>()
}

/// Shapes, rollout, parts and a save/load round trip through `load_surrogate`, for one model.
fn check_model(model: impl Surrogate, dataset: usize, space: &[usize], device: &Device) {
    let (frames, cond) = input(&model, dataset, space, device);
    let [b, h, c, n] = frames.dims();
    let next = model.step(frames.clone(), space, &cond);
    assert_eq!(next.dims(), [b, c, n], "{}: step", model.kind());
    // decode(forward_raw) is step, and target inverts decode.
    let raw = model.forward_raw(frames.clone(), space, &cond);
    let back = model.target(&frames, model.decode(&frames, raw.clone()));
    assert!(
        max_abs(back - raw) < 1e-4,
        "{}: target does not invert decode",
        model.kind()
    );
    let path = rollout(&model, frames.clone(), space, &cond, 3);
    assert_eq!(path.dims(), [b, 3, c, n], "{}: rollout", model.kind());
    // The first rolled frame is the step; with a history, the second sees it in its window.
    let first = path.clone().narrow(1, 0, 1).reshape([b, c, n]);
    assert!(max_abs(first - next.clone()) < 1e-5, "{}", model.kind());
    if h > 1 {
        let window = physfm_models::advance(frames.clone(), next.clone());
        let second = model.step(window, space, &cond);
        let rolled = path.narrow(1, 1, 1).reshape([b, c, n]);
        assert!(max_abs(second - rolled) < 1e-5, "{}", model.kind());
    }

    // Every weight belongs to exactly one part, and every part names some weight.
    let parts = model.parts();
    let paths = parameter_paths(&model);
    assert!(!paths.is_empty());
    for p in &paths {
        let owners = parts.all().filter(|prefix| under(p, prefix)).count();
        assert_eq!(owners, 1, "{}: `{p}` is in {owners} parts", model.kind());
    }
    for prefix in parts.all() {
        let used = paths.iter().any(|p| under(p, prefix));
        // Optional modules (EPD contexts without environments) may name nothing.
        assert!(
            used || ["contexts", "context"].contains(&prefix.as_str()),
            "{}: part `{prefix}` names no weight",
            model.kind()
        );
    }

    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let loaded = load_surrogate(dir.path(), device).unwrap();
    assert_eq!(loaded.kind(), model.kind());
    assert_eq!(loaded.history(), model.history());
    let again = loaded.step(frames, space, &cond);
    assert_eq!(
        next.into_data().try_to_vec::<f32>().unwrap(),
        again.into_data().try_to_vec::<f32>().unwrap(),
        "{}: loaded model differs",
        model.kind()
    );
    // The wrapper's parts name the same weights under its variant.
    let any_paths = parameter_paths(&loaded);
    for p in &any_paths {
        assert_eq!(loaded.parts().all().filter(|x| under(p, x)).count(), 1);
    }
}

#[test]
fn every_model_is_a_surrogate() {
    let device = Device::flex();
    check_model(fno_stepper(&device, false), 0, &[32], &device);
    check_model(fno_stepper(&device, true), 0, &[32], &device);
    check_model(epd(&device), 1, &[24], &device);
    check_model(unet(&device), 0, &[20], &device);
    check_model(avit(&device), 0, &[8, 6], &device);
}

#[test]
fn the_trait_computes_what_each_models_own_api_computes() {
    let device = Device::flex();
    // Stepper: the window [b, h, c, n] is the stepper's [b, h * c, n].
    let s = fno_stepper(&device, false);
    let (frames, cond) = input(&s, 0, &[32], &device);
    let [b, h, c, n] = frames.dims();
    let own = s.step(frames.clone().reshape([b, h * c, n]), &cond.coefficients);
    let via = Dynamics::step(&s, frames, &[32], &cond);
    assert_eq!(
        own.into_data().try_to_vec::<f32>().unwrap(),
        via.into_data().try_to_vec::<f32>().unwrap()
    );
    // EPD in 1D.
    let m = epd(&device);
    let (frames, cond) = input(&m, 1, &[24], &device);
    let u = frames.clone().reshape([3, 2, 24]);
    let own = m.step::<3>(1, u, &cond.dt, &cond.coefficients, None);
    let via = Dynamics::step(&m, frames, &[24], &cond);
    assert_eq!(
        own.into_data().try_to_vec::<f32>().unwrap(),
        via.into_data().try_to_vec::<f32>().unwrap()
    );
}

#[test]
fn epd_takes_learned_or_given_contexts() {
    let device = Device::flex();
    let mut m = epd(&device);
    // FiLM starts as the identity, where no conditioning moves the output: give it weights.
    for f in m.film.iter_mut() {
        let dims = f.weight.dims();
        f.weight = Param::from_tensor(Tensor::random(
            dims,
            Distribution::Normal(0.0, 0.5),
            &device,
        ));
    }
    assert_eq!(m.context_dim(), 4);
    let (frames, cond) = input(&m, 0, &[16], &device);
    let plain = Dynamics::step(&m, frames.clone(), &[16], &cond);
    let env = cond.clone().with_environments(vec![0, 1, 2]);
    let with_env = Dynamics::step(&m, frames.clone(), &[16], &env);
    let ctx = Tensor::<2>::random([3, 4], Distribution::Normal(0.0, 1.0), &device);
    let with_ctx = Dynamics::step(&m, frames.clone(), &[16], &cond.clone().with_context(ctx));
    assert!(max_abs(with_env.clone() - plain.clone()) > 1e-4);
    assert!(max_abs(with_ctx - plain) > 1e-4);
    // A given context equal to the learned rows is the same as naming the environments.
    let rows = m.contexts.as_ref().unwrap().val();
    let same = Dynamics::step(&m, frames, &[16], &cond.with_context(rows));
    assert!(max_abs(same - with_env) < 1e-5);
}

#[test]
fn unknown_kinds_and_missing_directories_are_named() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let e = load_surrogate(dir.path(), &device).unwrap_err().to_string();
    assert!(e.contains("config.json"), "{e}");
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"kind": "physfm.nonsense", "config": {}}"#,
    )
    .unwrap();
    let e = load_surrogate(dir.path(), &device).unwrap_err().to_string();
    assert!(
        e.contains("physfm.nonsense") && e.contains("physfm.epd"),
        "{e}"
    );
    // A description that is not JSON names the file and keeps the parser's error.
    std::fs::write(dir.path().join("config.json"), "{ kind").unwrap();
    let e = load_surrogate(dir.path(), &device).unwrap_err();
    assert!(e.to_string().contains("config.json"), "{e}");
    let source = std::error::Error::source(&e).expect("the parser's error is kept");
    assert!(source.is::<serde_json::Error>(), "{source}");
}

#[test]
fn a_loaded_model_is_any_surrogate() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    Surrogate::save(&unet(&device), dir.path()).unwrap();
    assert!(matches!(
        load_surrogate(dir.path(), &device).unwrap(),
        AnySurrogate::UNet(_)
    ));
}

/// The model directory is `config.json`, `model.safetensors` and (where a pipeline wrote it)
/// `spec.toml`; a directory of the old layout (`model.json`, `weights.bpk`) loads to the same
/// model, and saving it again converts it; weights that do not fit the description are
/// refused by name.
#[test]
fn model_directories_are_config_json_and_safetensors_and_old_ones_load() {
    use burn::module::Module;
    let device = Device::flex();
    let model = fno_stepper(&device, false);
    let (frames, cond) = input(&model, 0, &[32], &device);
    let expect = Dynamics::step(&model, frames.clone(), &[32], &cond);
    let dir = tempfile::tempdir().unwrap();
    Surrogate::save(&model, dir.path()).unwrap();
    physfm_models::write_spec(dir.path(), "[train]\nsteps = 1\n").unwrap();
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["config.json", "model.safetensors", "spec.toml"]);
    assert_eq!(
        physfm_models::read_spec(dir.path()).unwrap().as_deref(),
        Some("[train]\nsteps = 1\n")
    );
    // The safetensors file names every parameter by its path.
    let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = tensors.names().into_iter().map(String::from).collect();
    names.sort();
    let mut paths = parameter_paths(&model.net);
    paths.sort();
    assert_eq!(names, paths);

    // The old layout: model.json (the same description) beside burn's binary record.
    let old = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("config.json"),
        old.path().join("model.json"),
    )
    .unwrap();
    model
        .net
        .clone()
        .save_file(old.path().join("weights.bpk"))
        .unwrap();
    let loaded = load_surrogate(old.path(), &device).unwrap();
    let got = Dynamics::step(&loaded, frames, &[32], &cond);
    assert_eq!(max_abs(got - expect), 0.0);
    Surrogate::save(&loaded, old.path()).unwrap();
    assert!(old.path().join("model.safetensors").exists());
    assert!(!old.path().join("weights.bpk").exists() && !old.path().join("model.json").exists());

    // Weights of another model under this description are refused, naming the file.
    let other = tempfile::tempdir().unwrap();
    Surrogate::save(&unet(&device), other.path()).unwrap();
    std::fs::copy(
        other.path().join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let e = load_surrogate(dir.path(), &device).unwrap_err().to_string();
    assert!(e.contains("model.safetensors"), "{e}");
}

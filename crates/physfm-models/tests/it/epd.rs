//! The Encode-Process-Decode model: datasets of different channel counts, grids and
//! parameters through one processor; gradients reach the shared weights from each; it
//! overfits a tiny two-dataset batch; time steps, contexts and per-sample normalisation act
//! as documented; its weights round-trip bit for bit.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use physfm_models::{DatasetSpec, EncodeProcessDecode, EpdConfig, InputNorm};

fn config_1d() -> EpdConfig {
    let mut c = EpdConfig::new(
        vec![
            DatasetSpec {
                name: "a".into(),
                channels: 1,
                params: 1,
                periodic: vec![true],
            },
            DatasetSpec {
                name: "b".into(),
                channels: 2,
                params: 2,
                periodic: vec![false],
            },
        ],
        &[32],
        8,
        &[8],
        16,
    );
    c.processor.fno_mut().unwrap().n_layers = 2;
    c
}

fn field<const D: usize>(
    dims: [usize; D],
    f: impl Fn(&[usize]) -> f32,
    device: &Device,
) -> Tensor<D> {
    let n: usize = dims.iter().product();
    let mut idx = vec![0usize; D];
    let v: Vec<f32> = (0..n)
        .map(|mut p| {
            for a in (0..D).rev() {
                idx[a] = p % dims[a];
                p /= dims[a];
            }
            f(&idx)
        })
        .collect();
    Tensor::from_data(TensorData::new(v, dims), device)
}

fn wave(n: usize, shift: f32) -> impl Fn(&[usize]) -> f32 {
    move |i: &[usize]| {
        let x = i[2] as f32 / n as f32;
        (std::f32::consts::TAU * (x - shift)).sin() * (1.0 + 0.3 * i[1] as f32) + 0.1 * i[0] as f32
    }
}

/// The gradient norm of the processor's first spectral weight.
struct SpectralGrad<'a> {
    grads: &'a burn::tensor::Gradients,
    norms: Vec<f32>,
}

impl ModuleVisitor for SpectralGrad<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if D >= 4 {
            let g = param.grad(self.grads);
            self.norms
                .push(g.map_or(0.0, |g| g.square().sum().into_scalar::<f32>().sqrt()));
        }
    }
}

#[test]
fn two_datasets_share_the_processor_and_both_train_it() {
    let device = Device::flex().autodiff();
    device.seed(0);
    let cfg = config_1d();
    let model = cfg.init(&device);
    let ua = field([3, 1, 96], wave(96, 0.0), &device);
    let ub = field([2, 2, 40], wave(40, 0.1), &device);
    let ya = model.step(0, ua.clone(), &[0.1, 0.2, 0.1], &[0.5, 0.6, 0.7], None);
    let yb = model.step(1, ub.clone(), &[0.05, 0.05], &[1.0, 2.0, 3.0, 4.0], None);
    assert_eq!(ya.dims(), [3, 1, 96]);
    assert_eq!(yb.dims(), [2, 2, 40]);
    for (y, name) in [(ya, "a"), (yb, "b")] {
        let grads = y.square().mean().backward();
        let mut v = SpectralGrad {
            grads: &grads,
            norms: Vec::new(),
        };
        model.processor.visit(&mut v);
        assert_eq!(v.norms.len(), 2);
        assert!(
            v.norms.iter().all(|&g| g > 0.0 && g.is_finite()),
            "dataset {name}: processor gradients {:?}",
            v.norms
        );
        // The other dataset's encoder gets nothing from this loss.
        let other = if name == "a" { 1 } else { 0 };
        assert!(
            model.heads[other]
                .encoder
                .first
                .weight
                .grad(&grads)
                .is_none()
        );
    }
    assert_eq!(model.heads.len(), 2);
}

#[test]
fn overfits_a_tiny_two_dataset_batch() {
    let device = Device::flex().autodiff();
    device.seed(1);
    let cfg = config_1d();
    let mut model = cfg.init(&device);
    let (ua, ta) = (
        field([2, 1, 64], wave(64, 0.0), &device),
        field([2, 1, 64], wave(64, 0.05), &device),
    );
    let (ub, tb) = (
        field([2, 2, 40], wave(40, 0.0), &device),
        field([2, 2, 40], |i| 0.8 * wave(40, 0.0)(i), &device),
    );
    let mut optim = AdamConfig::new().init();
    let loss = |m: &EncodeProcessDecode, k: usize| {
        if k.is_multiple_of(2) {
            (m.step(0, ua.clone(), &[0.1, 0.1], &[0.3, 0.4], None) - ta.clone())
                .square()
                .mean()
        } else {
            (m.step(1, ub.clone(), &[0.1, 0.1], &[1.0, 1.0, 2.0, 2.0], None) - tb.clone())
                .square()
                .mean()
        }
    };
    let first: f32 = loss(&model, 0).into_scalar::<f32>() + loss(&model, 1).into_scalar::<f32>();
    for k in 0..600 {
        let l = loss(&model, k);
        let grads = GradientsParams::from_grads(l.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    let last: f32 = loss(&model, 0).into_scalar::<f32>() + loss(&model, 1).into_scalar::<f32>();
    assert!(last * 100.0 < first, "loss {first:.3e} -> {last:.3e}");
}

/// FiLM starts at the identity; random weights give it something to do.
fn with_random_film(model: EncodeProcessDecode, device: &Device) -> EncodeProcessDecode {
    let film = model
        .film
        .iter()
        .map(|f| {
            let mut f = f.clone();
            let w = Tensor::random(f.weight.dims(), Distribution::Normal(0.0, 0.3), device);
            f.weight = Param::from_tensor(w);
            f
        })
        .collect();
    EncodeProcessDecode { film, ..model }
}

#[test]
fn two_dimensional_datasets_of_other_grids_and_irregular_time_steps() {
    let device = Device::flex();
    device.seed(2);
    let mut cfg = EpdConfig::new(
        vec![
            DatasetSpec {
                name: "ns".into(),
                channels: 1,
                params: 0,
                periodic: vec![true, true],
            },
            DatasetSpec {
                name: "gs".into(),
                channels: 2,
                params: 2,
                periodic: vec![true, true],
            },
        ],
        &[16, 16],
        8,
        &[6, 6],
        8,
    );
    cfg.processor.fno_mut().unwrap().n_layers = 2;
    let model = with_random_film(cfg.init(&device), &device);
    let u = Tensor::<4>::random([2, 1, 20, 12], Distribution::Normal(0.0, 1.0), &device);
    let y = model.step(0, u.clone(), &[0.1, 0.1], &[], None);
    assert_eq!(y.dims(), [2, 1, 20, 12]);
    let v = Tensor::<4>::random([1, 2, 24, 24], Distribution::Normal(0.0, 1.0), &device);
    assert_eq!(
        model.step(1, v, &[0.5], &[0.03, 0.06], None).dims(),
        [1, 2, 24, 24]
    );
    // The time step is an input: the same state stepped by other dt gives another result.
    let z = model.step(0, u, &[0.1, 0.4], &[], None);
    let d = |a: Tensor<4>, b: Tensor<4>, i: usize| {
        (a.narrow(0, i, 1) - b.narrow(0, i, 1))
            .abs()
            .max()
            .into_scalar::<f32>()
    };
    assert_eq!(d(y.clone(), z.clone(), 0), 0.0);
    assert!(d(y, z, 1) > 1e-4);
}

#[test]
fn contexts_and_per_sample_normalisation_act_as_documented() {
    let device = Device::flex();
    device.seed(3);
    let mut cfg = config_1d();
    cfg.environments = 3;
    cfg.input_norm = InputNorm::PerSample;
    let model = with_random_film(cfg.init(&device), &device);
    let model = EncodeProcessDecode {
        contexts: Some(Param::from_tensor(Tensor::random(
            [3, 8],
            Distribution::Normal(0.0, 1.0),
            &device,
        ))),
        ..model
    };
    let u = field([2, 1, 48], wave(48, 0.0), &device);
    let step =
        |u: Tensor<3>, envs: &[usize]| model.step(0, u, &[0.1, 0.1], &[0.5, 0.5], Some(envs));
    let same = step(u.clone(), &[0, 0]);
    let other = step(u.clone(), &[0, 2]);
    let diff = |a: &Tensor<3>, b: &Tensor<3>, i: usize| {
        (a.clone().narrow(0, i, 1) - b.clone().narrow(0, i, 1))
            .abs()
            .max()
            .into_scalar::<f32>()
    };
    assert_eq!(diff(&same, &other, 0), 0.0);
    assert!(
        diff(&same, &other, 1) > 1e-4,
        "the environment's context changes the step"
    );
    // Per-sample normalisation: stepping a*u + c gives a*step(u) + c.
    let scaled = step(u.clone() * 3.0 + 2.0, &[0, 0]);
    let expect = same * 3.0 + 2.0;
    let err = (scaled - expect.clone()).abs().max().into_scalar::<f32>();
    let size = expect.abs().max().into_scalar::<f32>();
    assert!(err < 1e-4 * size, "affine equivariance off by {err}");
}

#[test]
fn weights_round_trip_bit_for_bit() {
    let device = Device::flex();
    device.seed(4);
    let cfg = config_1d();
    let model = cfg.init(&device);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("epd.bpk");
    model.clone().save_file(&path).unwrap();
    device.seed(99);
    let loaded = cfg.init(&device).try_load_file(&path).unwrap();
    let u = field([1, 2, 40], wave(40, 0.0), &device);
    let a = model.step(1, u.clone(), &[0.1], &[1.0, 2.0], None);
    let b = loaded.step(1, u, &[0.1], &[1.0, 2.0], None);
    assert_eq!(
        a.into_data().try_to_vec::<f32>().unwrap(),
        b.into_data().try_to_vec::<f32>().unwrap()
    );
}

#[test]
fn an_axial_vit_processor_serves_two_datasets_and_learns_from_both() {
    let device = Device::flex().autodiff();
    device.seed(12);
    let spec = |name: &str, channels, params| DatasetSpec {
        name: name.into(),
        channels,
        params,
        periodic: vec![true, true],
    };
    let mut cfg = EpdConfig::new(
        vec![spec("ns", 1, 0), spec("gs", 2, 2)],
        &[16, 16],
        8,
        &[6, 6],
        8,
    );
    let mut avit = physfm_models::AViTConfig::new(8, 8, 2);
    avit.embed_dim = 16;
    avit.heads = 2;
    avit.blocks = 2;
    avit.patch = vec![2, 2];
    cfg.processor = physfm_models::ProcessorConfig::AViT(avit);
    // The configuration round-trips through TOML as an AViT processor.
    let text = toml::to_string(&cfg).unwrap();
    let back: EpdConfig = toml::from_str(&text).unwrap();
    assert_eq!(back, cfg);
    // A misspelt processor key is named, for either processor.
    let typo = text.replace("embed_dim", "embed_dim = 16\nhead_count");
    let err = toml::from_str::<EpdConfig>(&typo).unwrap_err().to_string();
    assert!(
        err.contains("AViT processor") && err.contains("head_count"),
        "{err}"
    );
    let fno_cfg = EpdConfig::new(vec![spec("ns", 1, 0)], &[16, 16], 8, &[6, 6], 8);
    let typo = toml::to_string(&fno_cfg)
        .unwrap()
        .replace("n_layers", "n_layerz");
    let err = toml::from_str::<EpdConfig>(&typo).unwrap_err().to_string();
    assert!(
        err.contains("FNO processor") && err.contains("n_layerz"),
        "{err}"
    );
    let model = cfg.init(&device);
    let u = Tensor::<4>::random([2, 1, 20, 12], Distribution::Normal(0.0, 1.0), &device);
    let v = Tensor::<4>::random([1, 2, 24, 24], Distribution::Normal(0.0, 1.0), &device);
    let y = model.step(0, u.clone(), &[0.1, 0.2], &[], None);
    assert_eq!(y.dims(), [2, 1, 20, 12]);
    let z = model.step(1, v.clone(), &[0.5], &[0.03, 0.06], None);
    assert_eq!(z.dims(), [1, 2, 24, 24]);
    // Gradients reach the attention weights from each dataset.
    for (i, loss) in [y.square().mean(), z.square().mean()]
        .into_iter()
        .enumerate()
    {
        let grads = loss.backward();
        let physfm_models::Processor::AViT(a) = &model.processor else {
            panic!("an AViT processor")
        };
        let g = a.blocks[0]
            .space
            .qkv
            .weight
            .grad(&grads)
            .map_or(0.0, |g| g.square().sum().into_scalar::<f32>());
        assert!(g > 0.0, "dataset {i}: no gradient in the processor");
    }
}

#[test]
fn a_transfer_from_a_plain_or_validation_model_trains_the_shared_processor() {
    let ad = Device::flex().autodiff();
    ad.seed(21);
    let cfg = config_1d();
    let mut target = cfg.clone();
    target.datasets = vec![cfg.datasets[0].clone()];
    // A model loaded or built on a plain device, and one put in validation mode: the two
    // forms a pretrained model comes in.
    for (what, pre) in [
        ("plain", cfg.init(&Device::flex())),
        ("valid", cfg.init(&ad).valid()),
    ] {
        let m = pre.transfer(&target, &ad).unwrap();
        let u = Tensor::<3>::random([2, 1, 32], Distribution::Normal(0.0, 1.0), &ad);
        let loss = m.step(0, u, &[0.1, 0.2], &[0.5, 0.7], None).square().mean();
        let grads = loss.backward();
        let mut v = SpectralGrad {
            grads: &grads,
            norms: Vec::new(),
        };
        m.processor.visit(&mut v);
        assert!(
            !v.norms.is_empty() && v.norms.iter().all(|&n| n > 0.0),
            "{what}: processor gradients {:?}",
            v.norms
        );
    }
    // A target that changes the processor is refused, naming it.
    let mut other = target.clone();
    other.processor.fno_mut().unwrap().width = 8;
    let e = cfg
        .init(&Device::flex())
        .transfer(&other, &ad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.processor"), "{e}");
}

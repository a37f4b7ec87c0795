//! Pretrain a tiny multi-physics model on two PDE families, adapt it to a third with several
//! strategies and compare their errors, with library calls only:
//! `cargo run --release -p physfm --example pretrain_adapt`
use physfm::adapt::Strategy;
use physfm::data::{InMemoryCollection as Data, generate_in_memory};
use physfm::eval::{ParamTransform::Identity, transfer_protocol};
use physfm::models::EpdConfig;
use physfm::pde::Preset;
use physfm::prelude::*;
use physfm::train::{LossKind, dataset_spec};

type Res<T> = Result<T, Box<dyn std::error::Error>>;
/// `n` train and `n` test trajectories of `kind`, parameter `p` log-uniform in `lo..hi`.
fn generate(kind: &str, p: &str, lo: f64, hi: f64, t_end: f64, n: usize) -> Res<[Data; 2]> {
    let params = format!("params.{p} = {{ min = {lo}, max = {hi}, scale = \"log\" }}\n");
    let split = |s: &str| format!("[splits.{s}]\ntrajectories = {n}\n{params}");
    let toml = format!(
        "name = \"{kind}\"\ndescription = \"example\"\nseed = 7\n[family]\nkind = \"{kind}\"\n\
         resolution = 256\nstored_resolution = 64\n[time]\nt_end = {t_end}\nframes = 11\n{}{}",
        split("train"),
        split("test"),
    );
    let preset = Preset::from_toml(&toml, kind)?;
    let train = generate_in_memory(&preset, "train")?;
    Ok([train, generate_in_memory(&preset, "test")?])
}

fn main() -> Res<()> {
    // 1. Two pretraining families and a held-out target, generated in memory.
    let [advection, _] = generate("advection1d", "beta", 0.2, 2.0, 1.0, 16)?;
    let [kdv, _] = generate("kdv1d", "delta", 0.7, 1.4, 2.0, 16)?;
    let [shots, test] = generate("burgers1d", "nu", 0.02, 0.1, 0.5, 8)?;

    // 2. Pretrain one Encode-Process-Decode model on both (each batch from one, by weight).
    let mut data = Vec::new();
    for d in [&advection, &kdv] {
        let windows = WindowDataset::pairs(d, 1)?;
        data.push(PhysicsData {
            windows,
            weight: 1.0,
        });
    }
    let specs = vec![dataset_spec(&advection.meta), dataset_spec(&kdv.meta)];
    let config = EpdConfig::new(specs, &[32], 16, &[8], 16);
    let mut budget = TrainConfig::new(300, 8, 3e-3);
    budget.loss = LossKind::RelL2;
    let (dev, opts) = (Device::flex().autodiff(), TrainOptions::default());
    dev.seed(7);
    let init = config.init(&dev);
    let (model, r) = train_surrogate(init, &data, None, &budget, &dev, &opts)?;
    let prior = Prior::Model(model);
    println!(
        "pretrained: loss {:.3e} -> {:.3e}",
        r.initial_loss, r.final_loss
    );

    // 3. Adapt to the held-out family from 8 trajectories, one strategy at a time.
    let w = WindowDataset::pairs(&shots, 1)?;
    let target = EpdConfig {
        datasets: vec![dataset_spec(&shots.meta)],
        ..config
    };
    println!("| strategy | one-step rel. L2 | rollout rel. L2 | seconds |\n|---|---:|---:|---:|");
    for s in ["scratch", "full", "heads", "lora-r4", "leads", "in-context"] {
        let s: Strategy = s.parse()?;
        let b = TrainConfig {
            learning_rate: s.learning_rate(),
            ..budget.clone()
        };
        let m = MetaConfig::default();
        let r = transfer_protocol(Some(&prior), &target, &w, &test, s, &b, &m, Identity, &dev)?;
        println!(
            "| {s} | {:.4} | {:.4} | {:.1} |",
            r.one_step_rel_l2, r.rollout_rel_l2, r.seconds
        );
    }
    Ok(())
}

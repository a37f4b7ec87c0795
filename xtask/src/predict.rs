//! `cargo xtask predict --model DIR --input X.npy --output Y.npy`: runs a saved physfm model
//! on a NumPy array, so that a trained model serves any language that writes `.npy`.
//!
//! Layouts (physfm's, channel last): the input is one state per sample,
//! `[batch, *space, channel]`; the parameters `[batch, parameters]` (`--params P.npy`) or
//! one value per name for every sample (`--param nu=0.05`); the output holds `--steps K`
//! autoregressive steps, `[batch, K, *space, channel]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use burn::tensor::{Device, Tensor, TensorData};
use physfm_data::{read_npy, write_npy};
use physfm_models::Stepper1d;
use physfm_train::{frame_to_model, frames_to_stored};

/// Runs a saved model on a `.npy` array.
#[derive(Debug, clap::Args)]
pub(crate) struct Predict {
    /// Model directory (`model.json` + `weights.bpk`, as `cargo xtask quickstart` saves it).
    #[arg(long)]
    model: PathBuf,
    /// Input states `[batch, *space, channel]` (float32 or float64 .npy).
    #[arg(long)]
    input: PathBuf,
    /// Output file: `[batch, steps, *space, channel]` float32 .npy (written atomically).
    #[arg(long)]
    output: PathBuf,
    /// PDE parameters `[batch, parameters]` (.npy), in the model's parameter order.
    #[arg(long, conflicts_with = "param")]
    params: Option<PathBuf>,
    /// A parameter value for every sample, `name=value` (repeat for each parameter).
    #[arg(long)]
    param: Vec<String>,
    /// Autoregressive steps to predict.
    #[arg(long, default_value_t = 1)]
    steps: usize,
}

/// Samples per forward pass.
const CHUNK: usize = 64;

impl Predict {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let device = Device::flex();
        let model = Stepper1d::load(&self.model, &device)
            .with_context(|| format!("loading the model in {}", self.model.display()))?;
        let x = read_npy(&self.input)?;
        let c = model.channels();
        let names = &model.norm.param_names;
        if x.shape.len() != 3 || x.shape[2] != c {
            bail!(
                "{}: shape {:?}; this model (1D, {c} channel(s)) takes [batch, points, {c}]",
                self.input.display(),
                x.shape
            );
        }
        if let Some(i) = x.data.iter().position(|v| !v.is_finite()) {
            bail!(
                "{}: value {} at flat index {i} is not finite",
                self.input.display(),
                x.data[i]
            );
        }
        if self.steps == 0 {
            bail!("--steps must be at least 1");
        }
        let (b, n) = (x.shape[0], x.shape[1]);
        let params = self.parameters(names, b)?;
        let p = names.len();
        let mut out = vec![0.0f32; b * self.steps * n * c];
        for start in (0..b).step_by(CHUNK) {
            let end = (start + CHUNK).min(b);
            let mut state = Vec::with_capacity((end - start) * c * n);
            for s in start..end {
                frame_to_model(&x.data[s * n * c..(s + 1) * n * c], n, c, &mut state);
            }
            let mut u =
                Tensor::<3>::from_data(TensorData::new(state, [end - start, c, n]), &device);
            for k in 0..self.steps {
                u = model.step(u, &params[start * p..end * p]);
                let frames = frames_to_stored(
                    &u.clone()
                        .into_data()
                        .try_to_vec::<f32>()
                        .expect("f32 output"),
                    end - start,
                    c,
                    n,
                );
                for (i, s) in (start..end).enumerate() {
                    let at = ((s * self.steps + k) * n) * c;
                    out[at..at + n * c].copy_from_slice(&frames[i * n * c..(i + 1) * n * c]);
                }
            }
        }
        write_npy(&self.output, &[b, self.steps, n, c], &out)?;
        println!(
            "wrote {} ([{b}, {}, {n}, {c}])",
            self.output.display(),
            self.steps
        );
        Ok(())
    }

    /// The parameters of every sample, `[batch * parameters]`, checked against the model's.
    fn parameters(&self, names: &[String], b: usize) -> anyhow::Result<Vec<f64>> {
        let p = names.len();
        if let Some(path) = &self.params {
            let a = read_npy(path)?;
            if a.shape != [b, p] {
                bail!(
                    "{}: shape {:?}; expected [{b}, {p}] (parameters {names:?})",
                    path.display(),
                    a.shape
                );
            }
            return Ok(a.data.iter().map(|&v| v as f64).collect());
        }
        let mut given = BTreeMap::new();
        for kv in &self.param {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--param {kv}: expected name=value"))?;
            let v: f64 = v
                .parse()
                .with_context(|| format!("--param {kv}: `{v}` is not a number"))?;
            if !names.iter().any(|n| n == k) {
                bail!("--param {kv}: the model has no parameter `{k}` (it has {names:?})");
            }
            given.insert(k.to_string(), v);
        }
        let one: Vec<f64> = names
            .iter()
            .map(|n| {
                given.get(n).copied().with_context(|| {
                    format!(
                        "the model needs parameter `{n}`: pass --param {n}=VALUE or --params FILE"
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok((0..b).flat_map(|_| one.iter().copied()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use physfm_models::{FnoConfig, Normalization, StepperConfig};

    fn saved_model(dir: &std::path::Path) -> Stepper1d {
        let device = Device::flex();
        device.seed(4);
        let norm = Normalization {
            field_mean: vec![0.1, -0.2],
            field_std: vec![1.0, 2.0],
            delta_mean: vec![0.0, 0.0],
            delta_std: vec![0.1, 0.3],
            param_names: vec!["nu".into()],
            param_log: vec![true],
            param_mean: vec![-3.0],
            param_std: vec![1.0],
        };
        let cfg = StepperConfig {
            fno: FnoConfig::new(3, 2, &[6], 8),
            residual: true,
        };
        let model = Stepper1d::new(cfg, norm, &device).unwrap();
        model.save(&dir.join("model")).unwrap();
        model
    }

    fn args(dir: &std::path::Path) -> Predict {
        Predict {
            model: dir.join("model"),
            input: dir.join("x.npy"),
            output: dir.join("y.npy"),
            params: None,
            param: vec!["nu=0.05".into()],
            steps: 2,
        }
    }

    #[test]
    fn predicts_what_the_model_predicts_in_the_documented_layout() {
        let dir = tempfile::tempdir().unwrap();
        let model = saved_model(dir.path());
        let (b, n, c) = (3, 16, 2);
        let x: Vec<f32> = (0..b * n * c).map(|i| (i as f32 * 0.37).sin()).collect();
        write_npy(&dir.path().join("x.npy"), &[b, n, c], &x).unwrap();
        args(dir.path()).run().unwrap();
        let y = read_npy(&dir.path().join("y.npy")).unwrap();
        assert_eq!(y.shape, vec![b, 2, n, c]);
        // The same two steps directly, sample 1, in model layout.
        let device = Device::flex();
        let mut state = Vec::new();
        frame_to_model(&x[n * c..2 * n * c], n, c, &mut state);
        let u = Tensor::<3>::from_data(TensorData::new(state, [1, c, n]), &device);
        let u = model.step(model.step(u, &[0.05]), &[0.05]);
        let direct = frames_to_stored(&u.into_data().try_to_vec::<f32>().unwrap(), 1, c, n);
        let got = &y.data[(2 + 1) * n * c..(2 + 2) * n * c];
        for (a, d) in got.iter().zip(&direct) {
            assert!((a - d).abs() < 1e-5, "{a} vs {d}");
        }
    }

    #[test]
    fn wrong_inputs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        saved_model(dir.path());
        write_npy(&dir.path().join("x.npy"), &[2, 16, 3], &[0.0; 96]).unwrap();
        let e = args(dir.path()).run().unwrap_err().to_string();
        assert!(
            e.contains("[2, 16, 3]") && e.contains("[batch, points, 2]"),
            "{e}"
        );
        write_npy(&dir.path().join("x.npy"), &[2, 16, 2], &[0.0; 64]).unwrap();
        let mut a = args(dir.path());
        a.param = vec!["mu=1".into()];
        let e = a.run().unwrap_err().to_string();
        assert!(e.contains("no parameter `mu`"), "{e}");
        let mut a = args(dir.path());
        a.param.clear();
        let e = a.run().unwrap_err().to_string();
        assert!(e.contains("needs parameter `nu`"), "{e}");
        write_npy(&dir.path().join("p.npy"), &[3, 1], &[0.1; 3]).unwrap();
        let mut a = args(dir.path());
        a.param.clear();
        a.params = Some(dir.path().join("p.npy"));
        let e = a.run().unwrap_err().to_string();
        assert!(e.contains("expected [2, 1]"), "{e}");
        let mut x = vec![0.0f32; 64];
        x[5] = f32::NAN;
        write_npy(&dir.path().join("x.npy"), &[2, 16, 2], &x).unwrap();
        let e = args(dir.path()).run().unwrap_err().to_string();
        assert!(e.contains("flat index 5"), "{e}");
        assert!(!dir.path().join("y.npy").exists(), "no output on error");
    }
}

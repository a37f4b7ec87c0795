//! Property tests of the metadata parser (the root attribute `physfm`).

use std::path::Path;

use physfm_data::{CollectionMeta, FORMAT_VERSION};
use proptest::prelude::*;
use serde_json::{Value, json};

fn arb_meta() -> impl Strategy<Value = CollectionMeta> {
    (
        1usize..4,
        0usize..4,
        0usize..4,
        1usize..50,
        1usize..100,
        any::<u64>(),
    )
        .prop_flat_map(|(c, p, d, frames, n, seed)| {
            (
                proptest::collection::vec(1usize..64, d),
                proptest::collection::vec(0.1f64..10.0, d),
            )
                .prop_map(move |(shape, lengths)| CollectionMeta {
                    format_version: FORMAT_VERSION,
                    name: "p".into(),
                    channel_names: (0..c).map(|i| format!("c{i}")).collect(),
                    param_names: (0..p).map(|i| format!("p{i}")).collect(),
                    axis_names: ["x", "y", "z"][..d].iter().map(|s| s.to_string()).collect(),
                    spatial_shape: shape,
                    domain_lengths: lengths,
                    boundary: vec![physfm_data::AxisBoundary::PERIODIC; d],
                    frames,
                    trajectories: n,
                    generator: "prop".into(),
                    seed,
                    provenance: json!({"k": seed}),
                })
        })
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|v| json!(v)),
        any::<f64>().prop_map(|v| json!(v)),
        "[a-z_]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,14}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const KEYS: [&str; 13] = [
    "format_version",
    "name",
    "channel_names",
    "param_names",
    "axis_names",
    "spatial_shape",
    "domain_lengths",
    "boundary",
    "frames",
    "trajectories",
    "generator",
    "seed",
    "provenance",
];

proptest! {
    #[test]
    fn valid_metadata_round_trips(meta in arb_meta(), complete in any::<bool>()) {
        let mut v = serde_json::to_value(&meta).unwrap();
        v["complete"] = json!(complete);
        prop_assert_eq!(CollectionMeta::from_attribute(Path::new("s.zarr"), &v).unwrap(), meta);
    }

    #[test]
    fn mutated_metadata_is_refused_with_the_store_named(
        meta in arb_meta(),
        key in 0usize..KEYS.len(),
        how in 0usize..4,
        junk in arb_json(),
    ) {
        let mut v = serde_json::to_value(&meta).unwrap();
        let o = v.as_object_mut().unwrap();
        let k = KEYS[key];
        match how {
            0 => { o.remove(k); }
            1 => { o.insert("unexpected_key".into(), junk); }
            2 => { o.insert(k.into(), json!({"not": "the right type"})); }
            _ => {
                // Lengths that disagree: one entry more in a per-axis or per-channel list.
                let list = ["axis_names", "domain_lengths", "boundary", "spatial_shape"][key % 4];
                let arr = o.get_mut(list).unwrap().as_array_mut().unwrap();
                arr.push(arr.first().cloned().unwrap_or(json!(1)));
            }
        }
        if (how == 0 || how == 2) && k == "provenance" {
            // provenance is optional and free-form.
            prop_assert!(CollectionMeta::from_attribute(Path::new("s.zarr"), &v).is_ok());
        } else {
            let e = CollectionMeta::from_attribute(Path::new("s.zarr"), &v).unwrap_err().to_string();
            prop_assert!(e.contains("s.zarr"), "{}", e);
        }
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let _ = CollectionMeta::from_attribute(Path::new("s.zarr"), &v);
    }
}

//! `config.json` through the model open path (size cap, JSON parse) and the anatomy's
//! description (every field a config can lie about), beside a tiny llama-named checkpoint.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use taoke_dtype::Dtype;

fn weights() -> &'static [u8] {
    static W: OnceLock<Vec<u8>> = OnceLock::new();
    W.get_or_init(|| {
        let z = |n: usize| vec![0u8; n * 4];
        let (e, q, n) = (z(32), z(16), z(4));
        let tensors: Vec<(&str, Dtype, &[u64], &[u8])> = vec![
            ("model.embed_tokens.weight", Dtype::F32, &[8, 4], &e),
            (
                "model.layers.0.self_attn.q_proj.weight",
                Dtype::F32,
                &[4, 4],
                &q,
            ),
            (
                "model.layers.0.self_attn.k_proj.weight",
                Dtype::F32,
                &[4, 4],
                &q,
            ),
            (
                "model.layers.0.self_attn.v_proj.weight",
                Dtype::F32,
                &[4, 4],
                &q,
            ),
            (
                "model.layers.0.self_attn.o_proj.weight",
                Dtype::F32,
                &[4, 4],
                &q,
            ),
            (
                "model.layers.0.input_layernorm.weight",
                Dtype::F32,
                &[4],
                &n,
            ),
            ("model.norm.weight", Dtype::F32, &[4], &n),
        ];
        let mut out = Vec::new();
        taoke_safetensors::write(&mut out, &tensors, &Default::default()).expect("write");
        out
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = taoke_fuzz::scratch().join("config");
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).expect("scratch");
        std::fs::write(dir.join("model.safetensors"), weights()).expect("write weights");
    }
    std::fs::write(dir.join("config.json"), data).expect("write config");
    let ck = taoke_model::open(dir.to_str().expect("utf-8 path")).expect("the weights are valid");
    let descs: Vec<taoke_anatomy::TensorDesc> = ck
        .tensors
        .iter()
        .map(|t| taoke_anatomy::TensorDesc::new(t.name.clone(), t.shape.clone()))
        .collect();
    // Also straight from the bytes, in case the open path refused the config.
    let direct: Option<serde_json::Value> = serde_json::from_slice(data).ok();
    for config in [ck.config.as_ref(), direct.as_ref()] {
        let a = taoke_anatomy::analyze(&taoke_anatomy::AnatomyInput {
            tensors: &descs,
            config,
            ..Default::default()
        });
        let _ = serde_json::to_string(&a);
    }
});

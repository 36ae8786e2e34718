//! ONNX protobuf: the model parser, the graph index (topological order, cycles) and the
//! quantized-weight scan.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = taoke_onnx::parse(data) {
        let g = taoke_onnx::GraphIndex::new(&m);
        let _ = g.is_cyclic();
        let _ = g.topo_order().len();
        let scan = taoke_onnx::find_quantized_weights(&m, &g);
        let _ = taoke_onnx::tensor_uses(&m, &g, &scan);
        for i in &m.initializers {
            let _ = i.numel();
        }
    }
});

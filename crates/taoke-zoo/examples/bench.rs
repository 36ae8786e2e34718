//! Timing of the forward and backward pass.
use candle_core::{Device, Tensor, D};
use taoke_zoo::model::{forward, init, to_tmap};
fn time<F: FnMut() -> anyhow::Result<()>>(name: &str, mut f: F) -> anyhow::Result<()> {
    f()?;
    let t = std::time::Instant::now();
    for _ in 0..10 {
        f()?;
    }
    eprintln!("{name}: {:?}", t.elapsed() / 10);
    Ok(())
}
fn main() -> anyhow::Result<()> {
    let dev = &Device::Cpu;
    for l in [0usize, 1, 4] {
        let mut cfg = taoke_zoo::plan::shape("llama-64x4").unwrap();
        cfg.num_layers = l;
        let w = init(&cfg, 1);
        let p = to_tmap(&w)?;
        let ids: Vec<u32> = (0..16 * 64).map(|i| (i * 7 % 500) as u32).collect();
        let ids = Tensor::from_vec(ids, (16, 64), dev)?;
        time(&format!("fwd layers={l}"), || {
            forward(&cfg, &p, &ids)?;
            Ok(())
        })?;
    }
    let a = Tensor::randn(0f32, 1.0, (16, 4, 64, 64), dev)?;
    time("exp att", || {
        a.exp()?;
        Ok(())
    })?;
    time("max_keepdim att", || {
        a.max_keepdim(D::Minus1)?;
        Ok(())
    })?;
    time("sum_keepdim att", || {
        a.sum_keepdim(D::Minus1)?;
        Ok(())
    })?;
    let m = a.max_keepdim(D::Minus1)?;
    time("broadcast_sub att", || {
        a.broadcast_sub(&m)?;
        Ok(())
    })?;
    let q = Tensor::randn(0f32, 1.0, (16, 4, 64, 16), dev)?;
    time("q k^T", || {
        q.matmul(&q.t()?)?;
        Ok(())
    })?;
    time("att v", || {
        a.matmul(&q)?;
        Ok(())
    })?;
    let x = Tensor::randn(0f32, 1.0, (1024, 64), dev)?;
    time("sqr mean", || {
        x.sqr()?.mean_keepdim(D::Minus1)?;
        Ok(())
    })?;
    time("transpose contig", || {
        q.transpose(1, 2)?.contiguous()?;
        Ok(())
    })?;
    Ok(())
}

//! Helpers shared by the fuzz targets: a per-process scratch folder for targets that go
//! through the file-opening path of `taoke-model`, and a bounded decode of every tensor.

use std::path::PathBuf;
use std::sync::OnceLock;

/// A scratch folder unique to this process (in `/dev/shm` when it exists, so writes stay in
/// memory), created once.
pub fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("taoke-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch folder");
        d
    })
}

/// A fresh, empty sub-folder `name` of [`scratch`].
pub fn fresh(name: &str) -> PathBuf {
    let d = scratch().join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch sub-folder");
    d
}

/// Decodes every tensor of a checkpoint that is small enough (at most 1 M elements), so the
/// layouts the adapters produced are exercised by the readers. Errors are fine; panics are not.
pub fn read_small_tensors(ck: &taoke_model::Checkpoint) {
    for t in &ck.tensors {
        if t.n_elements() <= 1 << 20 {
            let _ = ck.read_f32(t);
        }
    }
}

//! The one table mapping GGML type ids (as stored in GGUF tensor infos) to [`Dtype`].

use taoke_dtype::Dtype;

/// GGML type id ↔ [`Dtype`], for every type taoke knows. Used in both directions.
const GGML_TYPES: &[(u32, Dtype)] = &[
    (0, Dtype::F32),
    (1, Dtype::F16),
    (2, Dtype::Q4_0),
    (3, Dtype::Q4_1),
    (6, Dtype::Q5_0),
    (7, Dtype::Q5_1),
    (8, Dtype::Q8_0),
    (9, Dtype::Q8_1),
    (10, Dtype::Q2_K),
    (11, Dtype::Q3_K),
    (12, Dtype::Q4_K),
    (13, Dtype::Q5_K),
    (14, Dtype::Q6_K),
    (15, Dtype::Q8_K),
    (16, Dtype::IQ2_XXS),
    (17, Dtype::IQ2_XS),
    (18, Dtype::IQ3_XXS),
    (19, Dtype::IQ1_S),
    (20, Dtype::IQ4_NL),
    (21, Dtype::IQ3_S),
    (22, Dtype::IQ2_S),
    (23, Dtype::IQ4_XS),
    (24, Dtype::I8),
    (25, Dtype::I16),
    (26, Dtype::I32),
    (27, Dtype::I64),
    (28, Dtype::F64),
    (29, Dtype::IQ1_M),
    (30, Dtype::BF16),
    (34, Dtype::TQ1_0),
    (35, Dtype::TQ2_0),
    (39, Dtype::MXFP4),
    (40, Dtype::NVFP4),
    (41, Dtype::Q1_0),
];

/// Ids that GGML once defined and later removed (or that only exist as in-memory repackings).
/// They keep their name in listings but map to [`Dtype::Unknown`].
const RETIRED_GGML_TYPES: &[(u32, &str)] = &[
    (4, "Q4_2"),
    (5, "Q4_3"),
    (31, "Q4_0_4_4"),
    (32, "Q4_0_4_8"),
    (33, "Q4_0_8_8"),
    (36, "IQ4_NL_4_4"),
    (37, "IQ4_NL_4_8"),
    (38, "IQ4_NL_8_8"),
];

/// The [`Dtype`] of a GGML type id; [`Dtype::Unknown`] for ids taoke does not know.
pub fn dtype_from_ggml(id: u32) -> Dtype {
    GGML_TYPES
        .iter()
        .find(|&&(i, _)| i == id)
        .map_or(Dtype::Unknown, |&(_, d)| d)
}

/// The GGML type id of a [`Dtype`]; `None` for types GGUF cannot store (e.g. `U8`, FP8).
pub fn ggml_type_of(dtype: Dtype) -> Option<u32> {
    GGML_TYPES
        .iter()
        .find(|&&(_, d)| d == dtype)
        .map(|&(i, _)| i)
}

/// The display name of a GGML type id: the [`Dtype`] name (`"Q4_K"`), the historical name of a
/// retired id (`"Q4_2"`), or `"type_<id>"` for ids nobody knows.
pub fn ggml_type_name(id: u32) -> String {
    match dtype_from_ggml(id) {
        Dtype::Unknown => RETIRED_GGML_TYPES
            .iter()
            .find(|&&(i, _)| i == id)
            .map_or_else(|| format!("type_{id}"), |&(_, n)| n.to_string()),
        d => d.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_a_bijection() {
        for &(id, d) in GGML_TYPES {
            assert_eq!(dtype_from_ggml(id), d);
            assert_eq!(ggml_type_of(d), Some(id));
            assert_eq!(ggml_type_name(id), d.name());
        }
        assert_eq!(ggml_type_of(Dtype::U8), None);
        assert_eq!(dtype_from_ggml(99), Dtype::Unknown);
        assert_eq!(ggml_type_name(99), "type_99");
        assert_eq!(ggml_type_name(31), "Q4_0_4_4");
        assert_eq!(dtype_from_ggml(31), Dtype::Unknown);
    }

    #[test]
    fn block_sizes_agree_with_ggml() {
        // (id, elements per block, bytes per block) as GGML defines them.
        let ggml: &[(u32, u32, u32)] = &[
            (2, 32, 18),
            (3, 32, 20),
            (6, 32, 22),
            (7, 32, 24),
            (8, 32, 34),
            (9, 32, 36),
            (10, 256, 84),
            (11, 256, 110),
            (12, 256, 144),
            (13, 256, 176),
            (14, 256, 210),
            (15, 256, 292),
            (20, 32, 18),
            (23, 256, 136),
            (34, 256, 54),
            (35, 256, 66),
            (39, 32, 17),
        ];
        for &(id, elems, bytes) in ggml {
            let d = dtype_from_ggml(id);
            assert_eq!(
                d.storage(),
                taoke_dtype::Storage::Block { elems, bytes },
                "{d}"
            );
        }
    }
}

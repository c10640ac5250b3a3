//! A plugin built against `kp:analysis@0.3.0`: the host must refuse it and say
//! which version it supports.

#![allow(unsafe_code)] // wit-bindgen's generated export glue

wit_bindgen::generate!({ world: "analysis", path: "wit" });

struct Future;

impl exports::kp::analysis::analyzer::Guest for Future {
    fn describe() -> String {
        "from the future".into()
    }
}

export!(Future);

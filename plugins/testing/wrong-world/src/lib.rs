//! A component of another world than `kp:analysis`: the host must refuse it.

#![allow(unsafe_code)] // wit-bindgen's generated export glue

wit_bindgen::generate!({ world: "greeting", path: "wit" });

struct Greeter;

impl exports::kp::greeting::greeter::Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

export!(Greeter);

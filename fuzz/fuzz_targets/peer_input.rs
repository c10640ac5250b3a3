//! Bytes a partner could send, fed to a node (see `kp_testkit::peer_input`):
//! the first byte picks how the rest is read. Even: as frames. Odd: as flips
//! of the genuine exchange, three bytes each (position, little-endian u16;
//! the byte to xor). Whatever gets in must be proven and the space unchanged.
#![no_main]

use std::sync::OnceLock;

use kp_testkit::peer_input::{Recording, Target};
use libfuzzer_sys::fuzz_target;

fn recording() -> &'static Recording {
    static R: OnceLock<Recording> = OnceLock::new();
    R.get_or_init(Recording::new)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut target = Target::new();
    if mode % 2 == 0 {
        target.feed(rest);
    } else {
        let mut bytes = recording().frames().to_vec();
        for flip in rest.chunks_exact(3) {
            let at = usize::from(u16::from_le_bytes([flip[0], flip[1]])) % bytes.len();
            bytes[at] ^= flip[2].max(1);
        }
        target.feed(&bytes);
    }
    if let Err(e) = target.check() {
        panic!("{e}");
    }
});

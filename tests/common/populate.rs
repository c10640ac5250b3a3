//! Fills a node's store with drafts through the library, for a node too large
//! to make through `kp` in reasonable time: a space with the node as its
//! admin, then `drafts` drafts titled "Working paper N", made by 16 threads so
//! that creations share commit rounds. The node must not be running.

use std::path::Path;
use std::sync::Arc;

use kp_core::identity::NodeKey;
use kp_model::draft::{self, Actor};
use kp_model::space::{self, Member};
use kp_repo::{ChangeNote, Repo, RepoConfig};
use kp_store::SledStore;

const BODY: &str = "Remittances to developing countries reached 351 billion dollars in 2011, \
an 8 percent increase over 2010. The global average cost of sending 200 dollars stood near \
9 percent, far above the 3 percent target.\n\n";

/// Adds the space "Remittances WG" and `drafts` drafts to the node in `dir`.
pub(crate) fn drafts(dir: &Path, drafts: usize) {
    let key = NodeKey::load(&dir.join("node.key")).expect("the node's key");
    let store = Arc::new(SledStore::open(&dir.join("store"), 64 << 20).expect("the store opens"));
    let repo = Repo::open(store, key.clone(), RepoConfig::default()).expect("the repository opens");
    let node_id = key.id().to_string();
    let admin = Member {
        node_id: node_id.clone(),
        role: "admin".into(),
        institution: "Bench Institute".into(),
        ..Default::default()
    };
    let note = ChangeNote::new("Bench", "create");
    let (space_id, ()) = repo
        .create(&note, |doc| {
            space::init(doc, "Remittances WG", 7, "", &admin, 0)
        })
        .expect("the space is made");
    let threads = 16;
    std::thread::scope(|s| {
        for t in 0..threads {
            let repo = repo.clone();
            let node_id = node_id.clone();
            let note = note.clone();
            s.spawn(move || {
                let by = Actor {
                    author: "Bench",
                    institution: "Bench Institute",
                    node_id: &node_id,
                };
                for i in (t..drafts).step_by(threads) {
                    let title = format!("Working paper {i}");
                    repo.create(&note, |doc| {
                        draft::init(
                            doc,
                            &space_id,
                            &title,
                            kp_model::DraftType::WorkingPaper,
                            &BODY.repeat(4),
                            &by,
                            0,
                        )
                    })
                    .expect("the draft is made");
                }
            });
        }
    });
    repo.shutdown();
}

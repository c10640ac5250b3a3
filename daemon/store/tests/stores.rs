//! The two stores behave alike: the sled and file store, and the in-memory
//! twin the simulation runs on.

use kp_core::ids::DocId;
use kp_store::{DocBytes, DocSizes, DocWrite, Keyspace, Op, SledStore, Store};
use kp_testkit::MemStore;

fn exercise(store: &dyn Store) {
    let ops = vec![
        Op::Put(Keyspace::Meta, b"k".to_vec(), b"v".to_vec()),
        Op::Put(Keyspace::Index, b"a1".to_vec(), b"x".to_vec()),
        Op::Put(Keyspace::Index, b"a2".to_vec(), b"y".to_vec()),
        Op::Put(Keyspace::Index, b"b1".to_vec(), b"z".to_vec()),
    ];
    store.commit(ops).unwrap();
    assert_eq!(
        store.get(Keyspace::Meta, b"k").unwrap(),
        Some(b"v".to_vec())
    );
    assert_eq!(store.scan_prefix(Keyspace::Index, b"a").unwrap().len(), 2);
    // Keyspaces do not see each other's keys.
    assert!(store.get(Keyspace::Index, b"k").unwrap().is_none());
    store
        .commit(vec![Op::Delete(Keyspace::Meta, b"k".to_vec())])
        .unwrap();
    assert!(store.get(Keyspace::Meta, b"k").unwrap().is_none());

    let id = DocId::random();
    assert_eq!(store.load_doc(&id).unwrap(), DocBytes::default());
    store
        .write_docs(&[
            DocWrite::Append(id, b"one".to_vec()),
            DocWrite::Append(id, b"two".to_vec()),
        ])
        .unwrap();
    assert_eq!(
        store.load_doc(&id).unwrap().log,
        [b"one".to_vec(), b"two".to_vec()]
    );
    assert_eq!(
        store.doc_sizes(&id).unwrap(),
        DocSizes {
            snapshot: 0,
            log: 22
        }
    );
    store
        .write_docs(&[
            DocWrite::Snapshot(id, b"snap".to_vec()),
            DocWrite::Append(id, b"3".to_vec()),
        ])
        .unwrap();
    let d = store.load_doc(&id).unwrap();
    assert_eq!(d.snapshot, Some(b"snap".to_vec()));
    assert_eq!(d.log, [b"3".to_vec()]);
}

#[test]
fn mem_store_behaves() {
    exercise(&MemStore::default());
}

#[test]
fn sled_store_behaves_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let id = DocId::random();
    {
        let s = SledStore::open(dir.path(), 16 << 20).unwrap();
        exercise(&s);
        s.commit(vec![Op::Put(Keyspace::Meta, b"x".to_vec(), b"1".to_vec())])
            .unwrap();
        s.write_docs(&[DocWrite::Append(id, b"kept".to_vec())])
            .unwrap();
    }
    let s = SledStore::open(dir.path(), 16 << 20).unwrap();
    assert_eq!(s.get(Keyspace::Meta, b"x").unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.load_doc(&id).unwrap().log, [b"kept".to_vec()]);
    assert!(s.size_on_disk() > 0);
    // The index's share leaves out the documents' files, which a walk counts.
    let docs = kp_store::dir_size(&dir.path().join("docs"));
    assert!(docs > 0);
    let index = s.index_size_on_disk();
    assert!(
        index > 0 && index + docs <= s.size_on_disk() + (1 << 20),
        "{index} {docs}"
    );
    assert!(index < s.size_on_disk());
}

#[test]
fn a_new_store_records_its_format_and_a_newer_one_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let store = SledStore::open(&path, 1 << 20).unwrap();
        assert_eq!(store.format().unwrap(), kp_store::FORMAT);
        // A newer kpd's store.
        store
            .commit(vec![Op::Put(
                Keyspace::Meta,
                b"store-format".to_vec(),
                b"99".to_vec(),
            )])
            .unwrap();
    }
    let err = SledStore::open(&path, 1 << 20).unwrap_err().to_string();
    assert!(
        err.contains("written by a newer kpd (store format 99; this kpd reads formats up to 1)")
            && err.contains("nothing was changed"),
        "{err}"
    );
    // Still format 99: refusing changed nothing.
    let err = SledStore::open(&path, 1 << 20).unwrap_err().to_string();
    assert!(err.contains("store format 99"), "{err}");
}

static STEPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn step_to_2(store: &SledStore) -> Result<(), kp_store::StoreError> {
    STEPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    store.commit(vec![Op::Put(
        Keyspace::Index,
        b"moved".to_vec(),
        b"yes".to_vec(),
    )])
}

#[test]
fn an_older_store_is_migrated_step_by_step_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = SledStore::open(&path, 1 << 20).unwrap();
    assert_eq!(store.format().unwrap(), 1);
    store.upgrade_with(&[step_to_2]).unwrap();
    assert_eq!(store.format().unwrap(), 2);
    assert_eq!(
        store.get(Keyspace::Index, b"moved").unwrap(),
        Some(b"yes".to_vec())
    );
    // Already done: the step does not run again.
    store.upgrade_with(&[step_to_2]).unwrap();
    assert_eq!(STEPS.load(std::sync::atomic::Ordering::SeqCst), 1);
    // The format-1 build refuses what the migration made.
    let err = store.upgrade_with(&[]).unwrap_err().to_string();
    assert!(err.contains("store format 2"), "{err}");
}

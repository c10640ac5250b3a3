//! The disk twin keeps what a real disk may keep, and the store's document
//! files, written through it, lose nothing acknowledged when the power goes
//! at any write, sync or rename.

use std::path::Path;

use kp_core::ids::DocId;
use kp_store::files::{Files, Handle};
use kp_store::{DocWrite, Keyspace, Op, Store};
use kp_testkit::{Disk, TwinStore};

#[test]
fn the_disk_keeps_what_was_synced_and_may_keep_a_torn_or_zeroed_rest() {
    let (mut kept_whole, mut torn, mut zeros) = (0, 0, 0);
    for seed in 0..200 {
        let disk = Disk::new();
        disk.create_dir_all(Path::new("/d")).unwrap();
        let (mut f, created) = disk.open(Path::new("/d/f")).unwrap();
        assert!(created);
        f.write_at(0, b"synced").unwrap();
        f.sync_data().unwrap();
        disk.sync_dir(Path::new("/d")).unwrap();
        f.write_at(6, b"-unsynced").unwrap();
        let after = disk.power_cut(seed);
        assert!(disk.is_off());
        assert!(
            disk.read(Path::new("/d/f")).is_err(),
            "an off disk reads nothing"
        );
        let got = after.read(Path::new("/d/f")).unwrap().unwrap();
        assert!(got.starts_with(b"synced"), "{got:?}");
        let zeroed = got.len() == 15 && got[6..].iter().all(|&b| b == 0);
        assert!(b"synced-unsynced".starts_with(&got) || zeroed, "{got:?}");
        match got.len() {
            _ if zeroed => zeros += 1,
            15 => kept_whole += 1,
            6 => {}
            _ => torn += 1,
        }
    }
    assert!(
        kept_whole > 0 && torn > 0 && zeros > 0,
        "{kept_whole} whole, {torn} torn, {zeros} zeroed"
    );
}

#[test]
fn a_name_not_synced_in_its_directory_may_be_lost_and_a_rename_is_all_or_nothing() {
    let (mut lost, mut kept) = (0, 0);
    for seed in 0..100 {
        let disk = Disk::new();
        disk.create_dir_all(Path::new("/d")).unwrap();
        let mut old = disk.create(Path::new("/d/snap")).unwrap();
        old.write_at(0, b"old").unwrap();
        old.sync_data().unwrap();
        disk.sync_dir(Path::new("/d")).unwrap();
        // A new file, synced, its name not; a snapshot replaced by rename,
        // the directory not synced.
        let (mut new, _) = disk.open(Path::new("/d/new")).unwrap();
        new.write_at(0, b"new").unwrap();
        new.sync_data().unwrap();
        let mut tmp = disk.create(Path::new("/d/snap.tmp")).unwrap();
        tmp.write_at(0, b"fresh").unwrap();
        tmp.sync_data().unwrap();
        disk.rename(Path::new("/d/snap.tmp"), Path::new("/d/snap"))
            .unwrap();
        let after = disk.power_cut(seed);
        match after.read(Path::new("/d/new")).unwrap() {
            None => lost += 1,
            Some(b) => {
                assert_eq!(b, b"new");
                kept += 1;
            }
        }
        let snap = after.read(Path::new("/d/snap")).unwrap().unwrap();
        assert!(snap == b"old" || snap == b"fresh", "{snap:?}");
    }
    assert!(lost > 0 && kept > 0);
    // A kill keeps everything written.
    let disk = Disk::new();
    disk.create_dir_all(Path::new("/d")).unwrap();
    let (mut f, _) = disk.open(Path::new("/d/f")).unwrap();
    f.write_at(0, b"written").unwrap();
    let after = disk.kill(0);
    assert_eq!(
        after.read(Path::new("/d/f")).unwrap().unwrap(),
        b"written".to_vec()
    );
}

/// The batches a document's history is written in: appends of numbered
/// chunks, and now and then a snapshot of everything so far.
fn history(id: DocId) -> Vec<Vec<DocWrite>> {
    let mut batches = Vec::new();
    let mut all = Vec::new();
    for n in 0..12u8 {
        let chunk = vec![n; 5 + usize::from(n)];
        all.extend_from_slice(&chunk);
        let mut batch = vec![DocWrite::Append(id, chunk)];
        if n % 4 == 3 {
            batch.push(DocWrite::Snapshot(id, all.clone()));
        }
        batches.push(batch);
    }
    batches
}

/// The chunks a document holds as stored: those its snapshot was made of,
/// then its log's. A snapshot written while the log it replaces was not yet
/// emptied durably leaves both, some chunks twice: automerge takes a change
/// it has once, so that is no loss and no damage.
fn chunks(store: &TwinStore, id: &DocId) -> Vec<u8> {
    let d = store.load_doc(id).expect("no damage after a power cut");
    let mut held = Vec::new();
    let snap = d.snapshot.unwrap_or_default();
    let (mut at, mut n) = (0, 0u8);
    while at < snap.len() {
        let chunk = vec![n; 5 + usize::from(n)];
        assert_eq!(
            snap.get(at..at + chunk.len()),
            Some(&chunk[..]),
            "a snapshot as written"
        );
        held.push(n);
        at += chunk.len();
        n += 1;
    }
    for record in d.log {
        let n = record[0];
        assert_eq!(
            record,
            vec![n; if n == 0xee { 3 } else { 5 + usize::from(n) }]
        );
        held.push(n);
    }
    held
}

#[test]
fn no_acknowledged_write_is_lost_whenever_the_power_goes() {
    let (a, b) = (DocId::from_bytes([1; 16]), DocId::from_bytes([2; 16]));
    let (ha, hb) = (history(a), history(b));
    // Every operation of the whole run, counted once without faults.
    let total = {
        let disk = Disk::new();
        let store = TwinStore::open(disk.clone()).unwrap();
        let opened = disk.ops();
        for (x, y) in ha.iter().zip(&hb) {
            store.write_docs(&[x.clone(), y.clone()].concat()).unwrap();
            store
                .commit(vec![Op::Put(Keyspace::Meta, b"n".to_vec(), vec![1])])
                .unwrap();
        }
        disk.ops() - opened
    };
    assert!(total > 50, "{total}");
    let mut cuts = 0;
    for at in 1..=total {
        for seed in 0..4 {
            let disk = Disk::new();
            let store = TwinStore::open(disk.clone()).unwrap();
            disk.fail_after(at);
            // How many batches were acknowledged, and tried.
            let (mut acked, mut tried) = (0u8, 0u8);
            let mut acked_meta = 0u8;
            for (i, (x, y)) in ha.iter().zip(&hb).enumerate() {
                tried += 1;
                if store.write_docs(&[x.clone(), y.clone()].concat()).is_err() {
                    break;
                }
                acked = i as u8 + 1;
                if store
                    .commit(vec![Op::Put(
                        Keyspace::Meta,
                        b"n".to_vec(),
                        vec![i as u8 + 1],
                    )])
                    .is_err()
                {
                    break;
                }
                acked_meta = i as u8 + 1;
            }
            assert!(disk.is_off(), "the power went at operation {at}");
            let after = if seed == 3 {
                disk.kill(seed)
            } else {
                disk.power_cut(at * 7 + seed)
            };
            let store = TwinStore::open(after).unwrap();
            for id in [a, b] {
                let held = chunks(&store, &id);
                assert!(
                    (0..acked).all(|n| held.contains(&n)) && held.iter().all(|&n| n < tried),
                    "cut at {at} (seed {seed}): {id} holds chunks {held:?}, {acked} acknowledged"
                );
                // The store goes on: the next append lands after what is kept.
                store
                    .write_docs(&[DocWrite::Append(id, vec![0xee; 3])])
                    .unwrap();
                let mut more = held.clone();
                more.push(0xee);
                assert_eq!(chunks(&store, &id), more);
            }
            let meta = store.get(Keyspace::Meta, b"n").unwrap();
            let meta = meta.map_or(0, |v| v[0]);
            assert!(
                meta >= acked_meta,
                "cut at {at}: index at {meta}, acknowledged {acked_meta}"
            );
            cuts += 1;
        }
    }
    assert_eq!(cuts, total * 4);
}

/// A process killed after it created a log and before it synced the
/// directory leaves a name only the page cache holds; the next process
/// appends to that log and syncs it. A power cut then must not take the name,
/// and with it what the next process acknowledged.
#[test]
fn a_log_created_before_a_kill_keeps_its_name_through_a_later_power_cut() {
    let id = DocId::from_bytes([3; 16]);
    for at in 1..=ops_of_first_append(id) {
        for seed in 0..8 {
            let disk = killed_in_first_append(id, at, seed);
            let store = TwinStore::open(disk.clone()).unwrap();
            store
                .write_docs(&[DocWrite::Append(id, vec![2; 5])])
                .expect("the next process appends");
            let after = TwinStore::open(disk.power_cut(seed)).unwrap();
            let log = after.load_doc(&id).expect("no damage").log;
            assert!(
                log.contains(&vec![2; 5]),
                "killed at {at}, cut with seed {seed}: the acknowledged append is gone ({log:?})"
            );
        }
    }
}

/// A process killed between an append and its `fdatasync` leaves the record
/// in the page cache only. The next process that reads it acts on it (lists
/// its heads in the index, sends it to partners, takes a change as made), so
/// reading it must make it durable: a power cut after the read keeps it.
#[test]
fn a_record_read_after_a_kill_survives_a_later_power_cut() {
    let id = DocId::from_bytes([4; 16]);
    let mut read_unsynced = 0;
    for at in 1..=ops_of_first_append(id) {
        for seed in 0..8 {
            let disk = killed_in_first_append(id, at, seed);
            let next = TwinStore::open(disk.clone()).unwrap();
            let Ok(seen) = next.load_doc(&id) else {
                continue;
            };
            if !seen.log.contains(&vec![1; 9]) {
                continue;
            }
            read_unsynced += 1;
            let after = TwinStore::open(disk.power_cut(seed)).unwrap();
            let log = after.load_doc(&id).expect("no damage").log;
            assert!(
                log.contains(&vec![1; 9]),
                "killed at {at}, read, cut with seed {seed}: the record read is gone ({log:?})"
            );
        }
    }
    assert!(read_unsynced > 0, "no kill left a record unsynced to read");
}

/// The writes, syncs and renames of a new store's first append to `id`.
fn ops_of_first_append(id: DocId) -> u64 {
    let disk = Disk::new();
    let store = TwinStore::open(disk.clone()).unwrap();
    let before = disk.ops();
    store
        .write_docs(&[DocWrite::Append(id, vec![1; 9])])
        .unwrap();
    disk.ops() - before
}

/// The disk a process leaves when killed at the `at`-th operation of a new
/// store's first append to `id` (nine bytes of 1).
fn killed_in_first_append(id: DocId, at: u64, seed: u64) -> Disk {
    let disk = Disk::new();
    let store = TwinStore::open(disk.clone()).unwrap();
    disk.fail_after(at);
    assert!(
        store
            .write_docs(&[DocWrite::Append(id, vec![1; 9])])
            .is_err()
    );
    disk.kill(seed)
}

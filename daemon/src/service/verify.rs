//! `kp verify`: every document read as the store holds it.

use kp_proto::local as pb;

use super::{Result, Service};

impl Service {
    /// `kp verify`: every document read as the store holds it (its log's
    /// checksums, its snapshot and changes load, a verified signature for
    /// every change), and the node's own values.
    pub(crate) fn verify(&self) -> Result<pb::VerifyReply> {
        let names = self.space_names();
        let me = self.node.to_string();
        let mut reply = pb::VerifyReply::default();
        for (id, meta) in self.repo.list() {
            reply.documents += 1;
            let (damage, unproven) = match self.repo.check(&id) {
                Ok(c) => {
                    reply.changes += c.changes as u64;
                    (String::new(), c.unproven as u64)
                }
                Err(e) => (e.to_string(), 0),
            };
            if damage.is_empty() && unproven == 0 {
                continue;
            }
            let space = meta.space.clone().unwrap_or_else(|| id.to_string());
            let partners = space
                .parse::<kp_core::ids::DocId>()
                .ok()
                .and_then(|s| {
                    self.repo
                        .read(&s, |d| kp_model::space::read(d).ok())
                        .ok()
                        .flatten()
                })
                .map(|s| {
                    s.members
                        .into_iter()
                        .filter(|m| m.node_id != me)
                        .map(|m| m.node_id)
                        .collect()
                })
                .unwrap_or_default();
            reply.problems.push(pb::CheckedDocument {
                id: id.to_string(),
                kind: meta.kind.as_str().to_owned(),
                title: meta.title.clone(),
                space_name: names.get(&space).cloned().unwrap_or_default(),
                damage,
                unproven_changes: unproven,
                partners,
            });
        }
        if let Err(e) = self.repo.scan_meta(b"") {
            reply.meta_damage = e.to_string();
        }
        Ok(reply)
    }
}

//! `kp verify`: the node's store read whole, checksums and signatures checked.

use kp_proto::local as pb;

use crate::client::{Ctx, refused};
use crate::output::emit;
use crate::render::table;

/// `kp verify`: exits 1 when anything is damaged or unproven (for a
/// monitor or cron), after saying what and who holds it too.
pub(super) async fn verify(ctx: &mut Ctx) -> anyhow::Result<()> {
    let r = ctx
        .api
        .verify(pb::VerifyRequest {})
        .await
        .map_err(refused)?
        .into_inner();
    emit(ctx.json, &r, |r| {
        outln!(
            "{} documents, {} changes read from the store",
            r.documents,
            r.changes
        );
        if !r.meta_damage.is_empty() {
            outln!(
                "the node's values (partners, accounts, plugins): {}",
                r.meta_damage
            );
        }
        if r.problems.is_empty() && r.meta_damage.is_empty() {
            outln!("every checksum and every signature holds");
            return Ok(());
        }
        let rows: Vec<Vec<String>> = r
            .problems
            .iter()
            .map(|p| {
                let what = if p.damage.is_empty() {
                    format!("{} changes with no verified signature", p.unproven_changes)
                } else {
                    p.damage.clone()
                };
                let repair = if p.partners.is_empty() {
                    "no partner holds it: restore it from a backup".to_owned()
                } else {
                    format!(
                        "held by {} partner(s): {}",
                        p.partners.len(),
                        p.partners
                            .iter()
                            .map(|n| n.chars().take(10).collect::<String>())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                vec![p.id.clone(), p.kind.clone(), p.title.clone(), what, repair]
            })
            .collect();
        table(&["ID", "KIND", "TITLE", "PROBLEM", "REPAIR"], &rows);
        Ok(())
    })?;
    if !r.problems.is_empty() || !r.meta_damage.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

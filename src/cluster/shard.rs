//! The leader's minimal-movement planner: how buckets move when the set of active nodes
//! changes. (Which bucket an entity falls in is [`crate::contract::bucket_of`], shared with
//! the collector.)
//!
//! [`plan`] runs only on the leader; its *result* goes into the Raft log
//! ([`Command::SetOwners`](super::state::Command::SetOwners)), so a newer planner on a newer
//! leader never makes replicas diverge.

pub use crate::contract::{bucket_of, BUCKETS};

/// Plans the bucket moves that make `current` balanced over `active`, moving as few buckets as
/// possible.
///
/// `current[b]` is the owner of bucket `b` (`None`: never assigned). Returns `(bucket,
/// new_owner)` pairs, sorted by bucket; an empty result means nothing has to move.
///
/// The algorithm, and why it is minimal:
/// 1. With `n` active nodes and `B` buckets, a balanced map gives every node `B / n` buckets and
///    `B % n` of them one more. The "one more" slots go to the nodes that hold the most buckets
///    now (ties: lower id), which minimises what has to leave them.
/// 2. Buckets owned by no one or by a node that is not active must move (they are orphans);
///    a node above its quota releases its highest-numbered buckets. Nothing else moves, and
///    every one of these moves is forced, so the total is the minimum.
/// 3. The released buckets, in ascending order, go one by one to the least loaded node that is
///    below its quota (ties: lower id).
///
/// So when a node joins, only the buckets it receives move; when a node leaves or goes down,
/// only its buckets move; an already balanced map produces no moves. Deterministic: the
/// result depends only on the arguments (order of `active` and duplicates do not matter).
/// With no active node there is nobody to give buckets to, and the result is empty.
pub fn plan(current: &[Option<u64>], active: &[u64]) -> Vec<(u32, u64)> {
    let mut nodes: Vec<u64> = active.to_vec();
    nodes.sort_unstable();
    nodes.dedup();
    if nodes.is_empty() || current.is_empty() {
        return Vec::new();
    }

    // Buckets currently held by each active node (index into `nodes`), ascending.
    let mut held: Vec<Vec<u32>> = vec![Vec::new(); nodes.len()];
    let mut pool: Vec<u32> = Vec::new();
    for (b, owner) in current.iter().enumerate() {
        let b = b as u32;
        match owner.and_then(|o| nodes.binary_search(&o).ok()) {
            Some(i) => held[i].push(b),
            None => pool.push(b),
        }
    }

    let n = nodes.len();
    let base = current.len() / n;
    let extra = current.len() % n;

    // Quota: the `extra` most loaded nodes (ties by id, i.e. index) may keep base + 1.
    let mut by_load: Vec<usize> = (0..n).collect();
    by_load.sort_by(|&a, &b| held[b].len().cmp(&held[a].len()).then(a.cmp(&b)));
    let mut quota = vec![base; n];
    for &i in by_load.iter().take(extra) {
        quota[i] += 1;
    }

    // Overloaded nodes release their highest-numbered buckets.
    for i in 0..n {
        while held[i].len() > quota[i] {
            pool.push(held[i].pop().expect("len > quota >= 0"));
        }
    }
    pool.sort_unstable();

    let mut load: Vec<usize> = held.iter().map(Vec::len).collect();
    let mut moves = Vec::with_capacity(pool.len());
    for b in pool {
        let i = (0..n)
            .filter(|&i| load[i] < quota[i])
            .min_by_key(|&i| (load[i], i))
            .expect("total quota equals the number of buckets");
        load[i] += 1;
        moves.push((b, nodes[i]));
    }
    moves
}

/// Applies `moves` to a copy of `current`: what the shard map is once a plan is applied.
#[cfg(test)]
fn apply_moves(current: &[Option<u64>], moves: &[(u32, u64)]) -> Vec<Option<u64>> {
    let mut out = current.to_vec();
    for &(b, owner) in moves {
        out[b as usize] = Some(owner);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn loads(map: &[Option<u64>]) -> BTreeMap<u64, usize> {
        let mut m = BTreeMap::new();
        for o in map.iter().flatten() {
            *m.entry(*o).or_default() += 1;
        }
        m
    }

    fn assert_balanced(map: &[Option<u64>], active: &[u64]) {
        let set: BTreeSet<u64> = active.iter().copied().collect();
        assert!(
            map.iter().all(|o| o.is_some_and(|o| set.contains(&o))),
            "orphan left"
        );
        let l = loads(map);
        let min = set
            .iter()
            .map(|n| l.get(n).copied().unwrap_or(0))
            .min()
            .unwrap();
        let max = set
            .iter()
            .map(|n| l.get(n).copied().unwrap_or(0))
            .max()
            .unwrap();
        assert!(max - min <= 1, "unbalanced: {min}..{max}");
    }

    #[test]
    fn fresh_map_is_spread_evenly() {
        let empty = vec![None; BUCKETS as usize];
        let moves = plan(&empty, &[3, 1, 2]);
        assert_eq!(moves.len(), BUCKETS as usize);
        let map = apply_moves(&empty, &moves);
        assert_balanced(&map, &[1, 2, 3]);
        // Deterministic tie-break: node 1 gets the extra bucket (1024 = 3 * 341 + 1).
        assert_eq!(loads(&map)[&1], 342);
        assert!(plan(&map, &[1, 2, 3]).is_empty());
    }

    #[test]
    fn no_active_nodes_means_no_moves() {
        assert!(plan(&[Some(1), None], &[]).is_empty());
    }

    fn arb_map() -> impl Strategy<Value = Vec<Option<u64>>> {
        (1usize..=1024).prop_flat_map(|len| {
            proptest::collection::vec(proptest::option::weighted(0.9, 1u64..12), len)
        })
    }

    proptest! {
        #[test]
        fn plan_balances_onto_active(map in arb_map(), active in proptest::collection::vec(1u64..12, 1..8)) {
            let moves = plan(&map, &active);
            let after = apply_moves(&map, &moves);
            assert_balanced(&after, &active);
            // Idempotent: a balanced map stays as it is.
            prop_assert!(plan(&after, &active).is_empty());
            // Every move changes the owner of a bucket that had to change.
            let set: BTreeSet<u64> = active.iter().copied().collect();
            for &(b, o) in &moves {
                prop_assert!(map[b as usize] != Some(o));
                prop_assert!(set.contains(&o));
            }
        }

        #[test]
        fn join_moves_only_what_the_new_node_receives(n in 1u64..10, buckets in 1usize..=1024) {
            let active: Vec<u64> = (1..=n).collect();
            let start = apply_moves(&vec![None; buckets], &plan(&vec![None; buckets], &active));
            let mut grown = active.clone();
            grown.push(n + 1);
            let moves = plan(&start, &grown);
            prop_assert!(moves.iter().all(|&(_, o)| o == n + 1));
            let after = apply_moves(&start, &moves);
            prop_assert_eq!(loads(&after).get(&(n + 1)).copied().unwrap_or(0), moves.len());
            assert_balanced(&after, &grown);
        }

        #[test]
        fn leave_moves_exactly_the_leavers_buckets(n in 2u64..10, leaver in 0u64..10, buckets in 1usize..=1024) {
            let leaver = 1 + leaver % n;
            let active: Vec<u64> = (1..=n).collect();
            let start = apply_moves(&vec![None; buckets], &plan(&vec![None; buckets], &active));
            let rest: Vec<u64> = active.iter().copied().filter(|&x| x != leaver).collect();
            let moves = plan(&start, &rest);
            let moved: BTreeSet<u32> = moves.iter().map(|&(b, _)| b).collect();
            let owned: BTreeSet<u32> = (0..buckets as u32).filter(|&b| start[b as usize] == Some(leaver)).collect();
            prop_assert_eq!(moved, owned);
            assert_balanced(&apply_moves(&start, &moves), &rest);
        }

        #[test]
        fn bucket_in_range(vc in ".{0,20}", moid in ".{0,20}") {
            prop_assert!(bucket_of(&vc, &moid) < BUCKETS);
        }
    }
}

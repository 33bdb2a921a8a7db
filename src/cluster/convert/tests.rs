use prost::Message;

use super::*;

fn all_roles() -> [Role; 3] {
    // Exhaustive on purpose: a new variant fails to compile here until the table has it.
    let _ = |r: Role| match r {
        Role::Voter | Role::Learner | Role::Outside => (),
    };
    [Role::Voter, Role::Learner, Role::Outside]
}

fn all_states() -> [NodeState; 4] {
    let _ = |s: NodeState| match s {
        NodeState::Active | NodeState::Draining | NodeState::Down | NodeState::Left => (),
    };
    [
        NodeState::Active,
        NodeState::Draining,
        NodeState::Down,
        NodeState::Left,
    ]
}

fn all_server_states() -> [Option<ServerState>; 6] {
    let _ = |s: ServerState| match s {
        ServerState::Leader
        | ServerState::Follower
        | ServerState::Learner
        | ServerState::Candidate
        | ServerState::Shutdown => (),
    };
    [
        None,
        Some(ServerState::Leader),
        Some(ServerState::Follower),
        Some(ServerState::Learner),
        Some(ServerState::Candidate),
        Some(ServerState::Shutdown),
    ]
}

/// Every value has a name and an enum number of its own, and both decode back to it.
fn round_trips<T: Named + std::fmt::Debug>(all: &[T]) {
    for &v in all {
        assert!(!name(v).is_empty(), "{v:?} has no name");
        assert_ne!(to_pb(v), 0, "{v:?} has no enum value");
        assert_eq!(decode::<T>(to_pb(v), "", "f").unwrap(), v, "typed");
        assert_eq!(decode::<T>(0, name(v), "f").unwrap(), v, "old string");
    }
    let names: std::collections::BTreeSet<_> = all.iter().map(|&v| name(v)).collect();
    assert_eq!(names.len(), all.len(), "two values share a name");
}

#[test]
fn every_role_and_state_round_trips_through_its_name_and_its_enum() {
    round_trips(&all_roles());
    round_trips(&all_states());
    round_trips(&all_server_states());
    assert_eq!(name(NodeState::Draining), "draining");
    assert_eq!(name(None::<ServerState>), "starting");
    assert_eq!(name(Role::Outside), "outside");
}

fn member(role: Role, state: NodeState) -> Member {
    Member {
        id: 2,
        name: "n2".into(),
        addr: "10.0.0.2:7400".into(),
        incarnation: 9,
        role,
        state,
    }
}

#[test]
fn a_member_decodes_the_same_from_an_old_a_new_and_a_both_style_message() {
    for role in all_roles() {
        for state in all_states() {
            let both = member_pb(&member(role, state), 7);
            assert_eq!(
                (both.role.as_str(), both.state.as_str()),
                (name(role), name(state))
            );
            let old = pb::Member {
                role_kind: 0,
                state_kind: 0,
                ..both.clone()
            };
            let new = pb::Member {
                role: String::new(),
                state: String::new(),
                ..both.clone()
            };
            for m in [&both, &old, &new] {
                assert_eq!(member_role(m).unwrap(), role, "{m:?}");
                assert_eq!(member_state(m).unwrap(), state, "{m:?}");
            }
        }
    }
}

#[test]
fn the_typed_field_wins_and_errors_name_the_field() {
    let mut m = member_pb(&member(Role::Voter, NodeState::Active), 0);
    m.state = "left".into();
    assert_eq!(member_state(&m).unwrap(), NodeState::Active);
    // An enum number this release does not know falls back to the string.
    m.state_kind = 99;
    assert_eq!(member_state(&m).unwrap(), NodeState::Left);
    m.state = "joining".into();
    let e = member_state(&m).unwrap_err();
    assert_eq!(e.to_string(), "Member.state: unknown value \"joining\"");
    assert_eq!(label(member_state(&m), &m.state), "joining");
    m.role.clear();
    m.role_kind = 0;
    assert_eq!(
        member_role(&m).unwrap_err().to_string(),
        "Member.role: missing"
    );
}

#[test]
fn server_states_are_written_both_ways_and_read_from_either() {
    for s in all_server_states() {
        let mut r = pb::NodeReport::default();
        r.set_server(s);
        assert_eq!(r.server_state, name(s));
        let old = pb::NodeReport {
            server_state_kind: 0,
            ..r.clone()
        };
        let new = pb::NodeReport {
            server_state: String::new(),
            ..r.clone()
        };
        for r in [&r, &old, &new] {
            assert_eq!(report_server_state(r).unwrap(), s);
        }
        let mut reply = pb::StatusReply::default();
        reply.set_server(s);
        reply.server_state.clear();
        assert_eq!(reply_server_state(&reply).unwrap(), s);
    }
}

fn ops() -> Vec<AdminOp> {
    vec![
        AdminOp::Drain { node: "n2".into() },
        AdminOp::Undrain { node: "2".into() },
        AdminOp::Remove {
            node: "n3".into(),
            force: true,
        },
        AdminOp::TransferLeader { to: None },
        AdminOp::TransferLeader {
            to: Some("n1".into()),
        },
    ]
}

#[test]
fn an_admin_operation_decodes_the_same_from_an_old_a_new_and_a_both_style_request() {
    for op in ops() {
        let both = admin_request(&op, 1).unwrap();
        // Release 0.1's JSON, exactly: its leaders read only this.
        let v: serde_json::Value = serde_json::from_slice(&both.op).unwrap();
        assert!(v["op"].as_str().is_some(), "{v}");
        let old = pb::AdminRequest {
            operation: None,
            ..both.clone()
        };
        let new = pb::AdminRequest {
            op: Vec::new(),
            ..both.clone()
        };
        for r in [both, old, new] {
            assert_eq!(AdminOp::try_from(r).unwrap(), op);
        }
    }
    let drain = serde_json::to_string(&AdminOp::Drain { node: "n2".into() }).unwrap();
    assert_eq!(drain, r#"{"op":"drain","node":"n2"}"#);
}

#[test]
fn an_admin_request_with_no_or_bad_operation_is_an_error_naming_the_field() {
    let none = pb::AdminRequest::default();
    assert_eq!(
        AdminOp::try_from(none).unwrap_err().to_string(),
        "AdminRequest.operation: missing"
    );
    let bad = pb::AdminRequest {
        op: b"{\"op\":\"explode\"}".to_vec(),
        ..Default::default()
    };
    let e = AdminOp::try_from(bad).unwrap_err();
    assert!(
        e.to_string().starts_with("AdminRequest.op: bad JSON"),
        "{e}"
    );
    assert_eq!(Status::from(e).code(), tonic::Code::InvalidArgument);
}

fn some_buckets() -> Buckets {
    [
        ("vc1".to_string(), vec![0, 1, 5]),
        ("vc2".to_string(), vec![1023]),
    ]
    .into()
}

#[test]
fn drained_buckets_decode_the_same_from_an_old_a_new_and_a_both_style_reply() {
    for b in [some_buckets(), Buckets::new()] {
        let both = drain_reply("drained".into(), 2, &b);
        let old = pb::AdminReply {
            drained: None,
            ..both.clone()
        };
        let new = pb::AdminReply {
            detail: Vec::new(),
            ..both.clone()
        };
        for r in [&both, &old, &new] {
            assert_eq!(drained(r).unwrap(), Some(b.clone()), "{r:?}");
        }
    }
    // Not a drain: no buckets at all.
    assert_eq!(drained(&pb::AdminReply::default()).unwrap(), None);
}

#[test]
fn watched_buckets_decode_the_same_from_an_old_a_new_and_a_both_style_request() {
    let b = some_buckets();
    let both = wait_drained_request("n2", 1000, Some(&b));
    let old = pb::WaitDrainedRequest {
        watch: None,
        ..both.clone()
    };
    let new = pb::WaitDrainedRequest {
        buckets: Vec::new(),
        ..both.clone()
    };
    for r in [&both, &old, &new] {
        assert_eq!(watched(r).unwrap(), Some(b.clone()));
    }
    assert_eq!(watched(&wait_drained_request("n2", 1, None)).unwrap(), None);
    let bad = pb::WaitDrainedRequest {
        buckets: b"[1,2".to_vec(),
        ..Default::default()
    };
    assert!(watched(&bad)
        .unwrap_err()
        .to_string()
        .starts_with("WaitDrainedRequest.buckets: bad JSON"));
}

/// Release 0.1's `Member`, as its proto declared it (fields 1-7 only).
#[derive(Clone, PartialEq, Message)]
struct MemberV01 {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(string, tag = "3")]
    addr: String,
    #[prost(uint64, tag = "4")]
    incarnation: u64,
    #[prost(string, tag = "5")]
    role: String,
    #[prost(string, tag = "6")]
    state: String,
    #[prost(uint32, tag = "7")]
    buckets: u32,
}

#[test]
fn the_bytes_on_the_wire_work_both_ways_with_release_0_1() {
    // A 0.1 node reads what this release sends (it skips the typed fields).
    let new = member_pb(&member(Role::Learner, NodeState::Draining), 3);
    let read_by_old = MemberV01::decode(new.encode_to_vec().as_slice()).unwrap();
    assert_eq!(
        (
            read_by_old.role.as_str(),
            read_by_old.state.as_str(),
            read_by_old.buckets
        ),
        ("learner", "draining", 3)
    );
    // This release reads what a 0.1 node sends.
    let read_by_new = pb::Member::decode(read_by_old.encode_to_vec().as_slice()).unwrap();
    assert_eq!(read_by_new.role_kind, 0);
    assert_eq!(member_role(&read_by_new).unwrap(), Role::Learner);
    assert_eq!(member_state(&read_by_new).unwrap(), NodeState::Draining);
}

#[test]
fn each_kind_of_error_has_its_code() {
    use tonic::Code;
    let code = |s: Status| s.code();
    assert_eq!(
        code(Refusal::UnknownNode("x".into()).into()),
        Code::NotFound
    );
    let s: Status = Refusal::Unsafe("would drop below quorum".into()).into();
    assert_eq!(
        (s.code(), s.message()),
        (Code::FailedPrecondition, "refused: would drop below quorum")
    );
    let s: Status = Rejection::UnknownNode(4).into();
    assert_eq!(
        (s.code(), s.message()),
        (Code::FailedPrecondition, "refused: unknown node 4")
    );
    assert_eq!(code(Error::NoLeader.into()), Code::Unavailable);
    assert_eq!(code(Error::NotReady.into()), Code::Unavailable);
    assert_eq!(code(Error::Shutdown.into()), Code::Unavailable);
    assert_eq!(
        code(Error::Unauthenticated { addr: "a:1".into() }.into()),
        Code::Unavailable
    );
    let timeout = TransferError::Timeout {
        to: 2,
        timeout: std::time::Duration::from_secs(5),
        leader: None,
    };
    assert_eq!(
        code(Error::Transfer(timeout).into()),
        Code::DeadlineExceeded
    );
    assert_eq!(code(Error::Config("x".into()).into()), Code::Internal);
    let passed_on = Error::Rpc {
        addr: "a:1".into(),
        status: Status::not_found("unknown node \"n9\""),
    };
    assert_eq!(code(passed_on.into()), Code::NotFound);
}

/// Release 0.1's `AdminRequest`, `AdminReply` and `WaitDrainedRequest` (JSON in `bytes`).
#[derive(Clone, PartialEq, Message)]
struct AdminRequestV01 {
    #[prost(bytes = "vec", tag = "1")]
    op: Vec<u8>,
    #[prost(uint32, tag = "2")]
    hops: u32,
}

#[derive(Clone, PartialEq, Message)]
struct AdminReplyV01 {
    #[prost(string, tag = "1")]
    message: String,
    #[prost(uint64, optional, tag = "2")]
    node_id: Option<u64>,
    #[prost(bytes = "vec", tag = "3")]
    detail: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct WaitDrainedRequestV01 {
    #[prost(string, tag = "1")]
    node: String,
    #[prost(uint64, tag = "2")]
    timeout_ms: u64,
    #[prost(bytes = "vec", tag = "3")]
    buckets: Vec<u8>,
}

#[test]
fn admin_messages_work_both_ways_with_release_0_1() {
    // A 0.1 node forwards an operation to a new leader, and a new node to a 0.1 leader.
    let old = AdminRequestV01 {
        op: br#"{"op":"remove","node":"n3","force":false}"#.to_vec(),
        hops: 1,
    };
    let read_by_new = pb::AdminRequest::decode(old.encode_to_vec().as_slice()).unwrap();
    assert_eq!(read_by_new.hops, 1);
    assert_eq!(
        AdminOp::try_from(read_by_new).unwrap(),
        AdminOp::Remove {
            node: "n3".into(),
            force: false
        }
    );
    let new = admin_request(
        &AdminOp::TransferLeader {
            to: Some("n2".into()),
        },
        0,
    )
    .unwrap();
    let read_by_old = AdminRequestV01::decode(new.encode_to_vec().as_slice()).unwrap();
    assert_eq!(read_by_old.op, br#"{"op":"transfer_leader","to":"n2"}"#);

    // A 0.1 leader's drain answer reaches a new CLI, and a new leader's a 0.1 CLI.
    let old = AdminReplyV01 {
        message: "node 2 (n2) is draining".into(),
        node_id: Some(2),
        detail: br#"{"vc1":[0,1,5],"vc2":[1023]}"#.to_vec(),
    };
    let read_by_new = pb::AdminReply::decode(old.encode_to_vec().as_slice()).unwrap();
    assert_eq!(drained(&read_by_new).unwrap(), Some(some_buckets()));
    let new = drain_reply("drained".into(), 2, &some_buckets());
    let read_by_old = AdminReplyV01::decode(new.encode_to_vec().as_slice()).unwrap();
    assert_eq!(read_by_old.detail, old.detail);

    // The drain wait, both ways.
    let new = wait_drained_request("n2", 500, Some(&some_buckets()));
    let read_by_old = WaitDrainedRequestV01::decode(new.encode_to_vec().as_slice()).unwrap();
    assert_eq!(read_by_old.buckets, old.detail);
    let read_by_new =
        pb::WaitDrainedRequest::decode(read_by_old.encode_to_vec().as_slice()).expect("decodes");
    assert_eq!(watched(&read_by_new).unwrap(), Some(some_buckets()));
}

#[test]
fn cycle_reports_cross_the_wire_unchanged() {
    let r = CycleReport {
        vcenter: "vc1".into(),
        entities: 3,
        samples: 120,
        ended_unix_ms: 1_700_000_000_123,
        duration_ms: 450,
        errors: 1,
        first_error: Some("QueryPerf of 3 entities: refused".into()),
        window_end: Some(1_700_000_000),
    };
    let wire = pb::CycleReport::from(r.clone());
    assert_eq!(CycleReport::from(&wire), r);
    let quiet = CycleReport {
        first_error: None,
        window_end: None,
        ..r
    };
    assert_eq!(
        CycleReport::from(&pb::CycleReport::from(quiet.clone())),
        quiet
    );
    // The drain wait reads a node's answer through its typed view.
    let node = pb::NodeReport {
        reachable: true,
        cycles: vec![wire],
        ..Default::default()
    };
    let seen = NodeCycles::from(&node);
    assert!(seen.reachable && !seen.collecting && seen.cycles[0].entities == 3);
}

//! The channel name server: a server chore registers its channel by name, clients on other VPs
//! look it up and send to it; a name is taken once; unknown and over-long names are answered.

mod common;

use common::run;
use tessera_runtime::{channel, name_server, ChannelId, Message, NameError, Suspend, TaskId};

#[test]
fn servers_register_and_clients_look_up() {
    let (total, refusals) = run(4, |ctx| {
        let task = TaskId::new(7).unwrap();
        let (names, server) = name_server(
            ctx,
            ChannelId {
                owner: task,
                index: 1,
            },
        )
        .unwrap();
        let n = names.clone();
        let adder = ctx
            .spawn(move |c| {
                let (tx, rx) = channel(
                    ChannelId {
                        owner: task,
                        index: 2,
                    },
                    8,
                );
                n.register(c, "adder", tx).unwrap();
                (0..20).map(|_| rx.recv(c, Suspend).data[0]).sum::<u64>()
            })
            .unwrap();
        let clients: Vec<_> = (0..4u64)
            .map(|k| {
                let n = names.clone();
                ctx.spawn(move |c| {
                    let tx = loop {
                        match n.lookup(c, "adder").unwrap() {
                            Some(tx) => break tx,
                            None => c.yield_now(),
                        }
                    };
                    for i in 0..5 {
                        let mut m = Message::new(c.id(), 1, [k * 5 + i, 0, 0, 0, 0, 0]);
                        while let Err(tessera_runtime::Full(back)) = tx.send(m) {
                            m = back;
                            c.yield_now();
                        }
                    }
                })
                .unwrap()
            })
            .collect();
        clients.into_iter().for_each(|h| h.join(ctx));
        let total = adder.join(ctx);
        let (dup_tx, _dup_rx) = channel(
            ChannelId {
                owner: task,
                index: 3,
            },
            1,
        );
        let refusals = (
            names.register(ctx, "adder", dup_tx),
            names.lookup(ctx, "nobody").map(|s| s.is_some()),
            names
                .lookup(ctx, "a name longer than twenty-four bytes")
                .map(|s| s.is_some()),
        );
        names.stop(ctx).unwrap();
        assert_eq!(server.join(ctx), 1);
        (total, refusals)
    });
    assert_eq!(total, (0..20).sum::<u64>());
    assert_eq!(
        refusals,
        (Err(NameError::Taken), Ok(false), Err(NameError::TooLong))
    );
}

//! The programs of the system, one entry each; init loads them from the boot archive in this
//! order and keeps entry `i`'s process at `PROGRAM_SLOTS.start + i`.
//!
//! Priorities: the serial driver above everything, echo above its clients so a reply is
//! prompt, the rest at 10. Each program's ceiling is its priority: it can raise neither itself
//! nor what it creates.

use crate::slots::{self, CONSOLE_BADGE, ECHO_BADGE};
use crate::{Arg, Boot, Cap, Grant, Program, Starts, PROGRAM_SLOTS};
use tessera_abi::boot::io_ports;

const SELF: Grant = Grant {
    slot: slots::SELF,
    cap: Cap::OwnProcess,
};
const CONSOLE: Grant = Grant {
    slot: slots::CONSOLE,
    cap: Cap::Endpoint {
        server: "serial",
        badge: CONSOLE_BADGE,
    },
};
const ECHO: Grant = Grant {
    slot: slots::ECHO,
    cap: Cap::Endpoint {
        server: "echo",
        badge: ECHO_BADGE,
    },
};
/// The bank the shell and usertests make helper processes and test objects from; in a
/// boot that starts the program, room for a task of 10,000 chores (`user/tasks`' dense stacks).
const BANK: Grant = Grant {
    slot: slots::BANK,
    cap: Cap::Bank {
        pages: 4 * 1024 + 512,
        idle_pages: 1024,
    },
};

/// Its own address space, where the tasks it runs put their virtual processors (`user/tasks`).
const TASK_SPACE: Grant = Grant {
    slot: slots::task::SPACE,
    cap: Cap::OwnSpace,
};

/// Every program, in the order init loads them.
pub const PROGRAMS: &[Program] = &[
    Program {
        name: "serial",
        priority: 20,
        ceiling: 20,
        cpu: None,
        starts: Starts::Always,
        arg: Arg::Init,
        io_ports: Some(io_ports::SERIAL),
        caps: &[
            SELF,
            Grant {
                slot: slots::serial::IRQ,
                cap: Cap::SerialIrq,
            },
            Grant {
                slot: slots::serial::IRQ_ENDPOINT,
                cap: Cap::Endpoint {
                    server: "serial",
                    badge: slots::serial::IRQ_BADGE,
                },
            },
        ],
    },
    Program {
        name: "shell",
        priority: 10,
        ceiling: 10,
        cpu: None,
        starts: Starts::In(Boot::Normal),
        arg: Arg::Init,
        io_ports: None,
        caps: &[
            SELF,
            CONSOLE,
            ECHO,
            BANK,
            TASK_SPACE,
            Grant {
                slot: slots::shell::INIT,
                cap: Cap::Init,
            },
            Grant {
                slot: PROGRAM_SLOTS.start,
                cap: Cap::EveryProgram,
            },
        ],
    },
    Program {
        name: "echo",
        priority: 12,
        ceiling: 12,
        cpu: None,
        starts: Starts::Always,
        arg: Arg::Init,
        io_ports: None,
        caps: &[SELF, CONSOLE],
    },
    Program {
        name: "usertests",
        priority: 10,
        ceiling: 10,
        cpu: None,
        starts: Starts::In(Boot::Test),
        arg: Arg::Init,
        io_ports: None,
        caps: &[SELF, CONSOLE, ECHO, BANK, TASK_SPACE],
    },
    Program {
        name: "bench",
        priority: 10,
        ceiling: 10,
        cpu: None,
        starts: Starts::In(Boot::Bench),
        arg: Arg::Init,
        io_ports: None,
        caps: &[
            SELF,
            CONSOLE,
            ECHO,
            // Room for `cargo xtask bench --scaling`'s task of 100,000 chores (37,500 pages).
            Grant {
                slot: slots::BANK,
                cap: Cap::Bank {
                    pages: 44 * 1024 + 4 * 1024,
                    idle_pages: 1024,
                },
            },
            TASK_SPACE,
        ],
    },
    Program {
        name: "fuzz",
        priority: 10,
        ceiling: 10,
        cpu: None,
        starts: Starts::In(Boot::Fuzz),
        arg: Arg::Fuzz,
        io_ports: None,
        caps: &[
            SELF,
            CONSOLE,
            ECHO,
            // Its workers' stacks and the bank it hands the workers.
            Grant {
                slot: slots::BANK,
                cap: Cap::Bank {
                    pages: 4096,
                    idle_pages: 1024,
                },
            },
            Grant {
                slot: slots::fuzz::SPACE,
                cap: Cap::OwnSpace,
            },
        ],
    },
    Program {
        name: "hello",
        priority: 10,
        ceiling: 10,
        cpu: None,
        starts: Starts::In(Boot::Normal),
        arg: Arg::Init,
        io_ports: None,
        caps: &[SELF, CONSOLE],
    },
];

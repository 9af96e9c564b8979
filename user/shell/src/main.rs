//! shell: the console shell. Reads a line after the prompt `tessera> `, runs one command.
//!
//! Assumes: init gave it the console, echo, a sub-bank, process capabilities (see
//! `tessera_user::slots::shell`) and its own `InitArg` as the argument word.
#![no_std]
#![forbid(unsafe_code)]
#![no_main]

mod commands;
mod line;
mod ps;

use line::LineEditor;
use tessera_user::abi::boot::InitArg;
use tessera_user::{entry, print, println};

entry!(main);

fn main(arg: u64) {
    let arg = InitArg::unpack(arg);
    println!("Tessera shell. Type help for the commands.");
    let mut editor = LineEditor::new();
    loop {
        print!("tessera> ");
        let line = editor.read_line();
        commands::run(line, &arg);
    }
}

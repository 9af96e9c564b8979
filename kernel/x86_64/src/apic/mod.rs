//! Interrupt controllers: the local APIC of each CPU, the IOAPIC, and the legacy PICs (masked).
pub mod acpi_tables;
pub mod ioapic;
pub mod lapic;
pub mod pic;
pub mod pit;

//! Port I/O dispatch: which device answers a guest `in`/`out`. COM1 and
//! COM2 get their 8 ports each; a write of the reset command to the i8042
//! command port is reported (Linux's `reboot=k`; its status port reads
//! idle, so the reboot need not wait for it), and so is an ACPI S5
//! write to the sleep control register ([`super::power`], Linux's
//! `poweroff`); every other port is ignored (reads see 0xff, a floating
//! bus) and counted, because Linux probes many legacy ports that a micro VM
//! does not have.

use std::collections::BTreeMap;
use std::sync::mpsc::Sender;

use super::layout::{
    COM1_PORT, COM2_PORT, I8042_COMMAND_PORT, I8042_RESET, I8042_STATUS_IDLE, UART_PORTS,
};
use super::power::{self, SleepControl, SleepRegister};
use super::serial::{IrqLine, Uart};

/// What a port write meant beyond the device's own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortWrite {
    Handled,
    /// No device there; ignored.
    Unclaimed,
    /// The guest asked for a reset through the i8042.
    ResetRequested,
    /// The guest entered ACPI S5 (soft off) through the sleep control
    /// register.
    PowerOff,
    /// The guest asked for a sleep state the VMM does not have (SLP_TYP
    /// `slp_typ`); counted in [`Devices::sleep_requests`], and the guest
    /// carries on (the status register says it is awake).
    SleepUnsupported {
        slp_typ: u8,
    },
}

/// The VMM's port-I/O devices.
pub struct Devices {
    /// Kernel console (ttyS0).
    pub com1: Uart,
    /// Agent record channel (ttyS1).
    pub com2: Uart,
    /// Accesses to ports no device claims, by port.
    pub unclaimed: BTreeMap<u16, u64>,
    /// Unsupported sleep requests, by SLP_TYP.
    pub sleep_requests: BTreeMap<u8, u64>,
}

impl Devices {
    /// COM1 writing into `console`, COM2 into `record`.
    pub fn new(
        console: Sender<Vec<u8>>,
        com1_irq: IrqLine,
        record: Sender<Vec<u8>>,
        com2_irq: IrqLine,
    ) -> Devices {
        Devices {
            com1: Uart::new(console, com1_irq),
            com2: Uart::new(record, com2_irq),
            unclaimed: BTreeMap::new(),
            sleep_requests: BTreeMap::new(),
        }
    }

    fn uart(&mut self, port: u16) -> Option<(&mut Uart, u8)> {
        if (COM1_PORT..COM1_PORT + UART_PORTS).contains(&port) {
            Some((&mut self.com1, (port - COM1_PORT) as u8))
        } else if (COM2_PORT..COM2_PORT + UART_PORTS).contains(&port) {
            Some((&mut self.com2, (port - COM2_PORT) as u8))
        } else {
            None
        }
    }

    /// The guest wrote `data` (1, 2 or 4 bytes) to `port`. UART and sleep
    /// registers are a byte wide; wider writes go byte by byte to
    /// consecutive ports, as on real hardware. A power-off wins over
    /// anything else in the same write.
    pub fn io_out(&mut self, port: u16, data: &[u8]) -> PortWrite {
        if port == I8042_COMMAND_PORT && data.first() == Some(&I8042_RESET) {
            return PortWrite::ResetRequested;
        }
        let mut result = PortWrite::Handled;
        for (i, &byte) in data.iter().enumerate() {
            let p = port.wrapping_add(i as u16);
            if let Some((uart, offset)) = self.uart(p) {
                uart.write(offset, byte);
                continue;
            }
            match power::register_at(p) {
                Some(SleepRegister::Control) => match power::decode_control(byte) {
                    SleepControl::PowerOff => return PortWrite::PowerOff,
                    SleepControl::Unsupported { slp_typ } => {
                        *self.sleep_requests.entry(slp_typ).or_default() += 1;
                        result = PortWrite::SleepUnsupported { slp_typ };
                    }
                    SleepControl::Ignored => {}
                },
                // Write-1-to-clear WAK_STS, which always reads set.
                Some(SleepRegister::Status) => {}
                None => {
                    *self.unclaimed.entry(p).or_default() += 1;
                    if result == PortWrite::Handled {
                        result = PortWrite::Unclaimed;
                    }
                }
            }
        }
        result
    }

    /// The guest reads `len` bytes from `port`.
    pub fn io_in(&mut self, port: u16, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| {
                let p = port.wrapping_add(i as u16);
                if let Some((uart, offset)) = self.uart(p) {
                    return uart.read(offset);
                }
                match power::register_at(p) {
                    Some(SleepRegister::Control) => power::CONTROL_READ,
                    Some(SleepRegister::Status) => power::STATUS_READ,
                    // The i8042 status: both buffers empty. A floating 0xff
                    // (input buffer full) would make Linux's reboot poll it
                    // 65536 times, one exit each, before sending the reset.
                    None if p == I8042_COMMAND_PORT => I8042_STATUS_IDLE,
                    None => {
                        *self.unclaimed.entry(p).or_default() += 1;
                        0xff
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::mpsc::{channel, Receiver};

    /// Both UARTs, with the receivers of what the console and the record
    /// port get.
    pub(crate) fn devices() -> (Devices, Receiver<Vec<u8>>, Receiver<Vec<u8>>) {
        let (c, crx) = channel();
        let (r, rrx) = channel();
        (
            Devices::new(c, IrqLine::default(), r, IrqLine::default()),
            crx,
            rrx,
        )
    }

    #[test]
    fn each_uart_gets_its_ports() {
        let (mut d, console, record) = devices();
        assert_eq!(d.io_out(0x3f8, b"a"), PortWrite::Handled);
        assert_eq!(d.io_out(0x2f8, b"b"), PortWrite::Handled);
        assert_eq!(console.try_iter().flatten().collect::<Vec<_>>(), b"a");
        assert_eq!(record.try_iter().flatten().collect::<Vec<_>>(), b"b");
        // Scratch register (offset 7) keeps what was written: COM1's own.
        d.io_out(0x3ff, &[0x42]);
        d.io_out(0x2ff, &[0x24]);
        assert_eq!(d.io_in(0x3ff, 1), vec![0x42]);
        assert_eq!(d.io_in(0x2ff, 1), vec![0x24]);
        assert!(d.unclaimed.is_empty());
    }

    #[test]
    fn com2_input_reaches_the_guest() {
        let (mut d, _, _) = devices();
        d.com2.queue_input(b"go");
        assert_eq!(d.io_in(0x2f8, 1), b"g");
        assert_eq!(d.io_in(0x2f8, 1), b"o");
    }

    #[test]
    fn unknown_ports_float_and_are_counted() {
        let (mut d, _, _) = devices();
        assert_eq!(d.io_out(0x80, &[1]), PortWrite::Unclaimed);
        assert_eq!(d.io_in(0x61, 1), vec![0xff]);
        assert_eq!(d.io_in(0x61, 2), vec![0xff, 0xff]);
        assert_eq!(d.unclaimed.get(&0x80), Some(&1));
        assert_eq!(d.unclaimed.get(&0x61), Some(&2));
        assert_eq!(d.unclaimed.get(&0x62), Some(&1));
    }

    #[test]
    fn i8042_reset_is_reported() {
        let (mut d, _, _) = devices();
        assert_eq!(d.io_out(0x64, &[0xfe]), PortWrite::ResetRequested);
        assert_eq!(d.io_out(0x64, &[0xad]), PortWrite::Unclaimed);
        // Reboot polls the status for "input buffer empty" before the reset.
        let other_commands = d.unclaimed.get(&0x64).copied();
        assert_eq!(d.io_in(0x64, 1), [I8042_STATUS_IDLE]);
        assert_eq!(
            d.unclaimed.get(&0x64).copied(),
            other_commands,
            "a read is answered"
        );
    }

    #[test]
    fn linux_acpi_poweroff_sequence_is_reported() {
        use crate::kvm::layout::{ACPI_SLEEP_CONTROL_PORT, ACPI_SLEEP_STATUS_PORT};
        let (mut d, _, _) = devices();
        // acpi_hw_extended_sleep: clear WAK_STS, then SLP_TYP(S5) | SLP_EN.
        assert_eq!(
            d.io_out(ACPI_SLEEP_STATUS_PORT, &[power::WAK_STS]),
            PortWrite::Handled
        );
        assert_eq!(
            d.io_out(ACPI_SLEEP_CONTROL_PORT, &[0x34]),
            PortWrite::PowerOff
        );
        // SLP_TYP without SLP_EN does nothing.
        assert_eq!(
            d.io_out(ACPI_SLEEP_CONTROL_PORT, &[0x14]),
            PortWrite::Handled
        );
        assert_eq!(d.io_in(ACPI_SLEEP_STATUS_PORT, 1), vec![0x80]);
        assert_eq!(d.io_in(ACPI_SLEEP_CONTROL_PORT, 1), vec![0]);
        assert!(d.unclaimed.is_empty(), "{:?}", d.unclaimed);
        assert!(d.sleep_requests.is_empty());
    }

    #[test]
    fn unsupported_sleep_states_are_counted() {
        let (mut d, _, _) = devices();
        let s3 = power::control_value(3);
        assert_eq!(
            d.io_out(0x3c0, &[s3]),
            PortWrite::SleepUnsupported { slp_typ: 3 }
        );
        d.io_out(0x3c0, &[s3]);
        assert_eq!(d.sleep_requests.get(&3), Some(&2));
        // A 16-bit write reaching both registers still powers off.
        assert_eq!(d.io_out(0x3c0, &[0x34, 0x80]), PortWrite::PowerOff);
    }
}

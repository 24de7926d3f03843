//! One 16550A UART (vm-superio's `Serial`): what the guest writes to its
//! transmit register goes to a channel as it comes; bytes for the guest wait
//! in a queue and enter the 64-byte receive FIFO as the guest drains it.
//! The VMM has two: COM1 for the kernel console, COM2 for the agent's
//! record channel ([`super::bus`] routes ports to them).

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::Sender;

use vm_superio::serial::NoEvents;
use vm_superio::{Serial, Trigger};
use vmm_sys_util::eventfd::EventFd;

/// The UART's interrupt line: an eventfd registered with KVM as an irqfd
/// for the UART's IRQ, or nothing when the VM has no in-kernel irqchip (the
/// tiny real-mode guests poll or just write).
#[derive(Debug, Default)]
pub struct IrqLine(pub Option<EventFd>);

impl Trigger for IrqLine {
    type E = io::Error;

    fn trigger(&self) -> io::Result<()> {
        match &self.0 {
            Some(fd) => fd.write(1),
            None => Ok(()),
        }
    }
}

/// Guest output, passed on in the chunks the UART writes (one byte per
/// transmit). A dropped receiver only means nobody listens: the guest
/// must not fail for that.
#[derive(Debug)]
pub struct ChannelWriter(pub Sender<Vec<u8>>);

impl io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.0.send(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Offset of the receive buffer register: a read there takes a byte from
/// the FIFO, making room for queued input.
const RBR_OFFSET: u8 = 0;

pub struct Uart {
    serial: Serial<IrqLine, NoEvents, ChannelWriter>,
    /// Input not yet in the FIFO.
    pending: VecDeque<u8>,
    /// Errors from raising the interrupt, counted, not fatal.
    irq_errors: u64,
}

impl Uart {
    pub fn new(out: Sender<Vec<u8>>, irq: IrqLine) -> Uart {
        Uart {
            serial: Serial::new(irq, ChannelWriter(out)),
            pending: VecDeque::new(),
            irq_errors: 0,
        }
    }

    /// The guest wrote `value` to register `offset` (0..8).
    pub fn write(&mut self, offset: u8, value: u8) {
        if self.serial.write(offset, value).is_err() {
            self.irq_errors += 1;
        }
    }

    /// The guest reads register `offset` (0..8).
    pub fn read(&mut self, offset: u8) -> u8 {
        let value = self.serial.read(offset);
        if offset == RBR_OFFSET {
            self.refill();
        }
        value
    }

    /// Queues `bytes` for the guest; as many as fit enter the FIFO now
    /// (raising the receive interrupt), the rest as the guest reads.
    pub fn queue_input(&mut self, bytes: &[u8]) {
        self.pending.extend(bytes);
        self.refill();
    }

    /// Bytes queued for the guest but not yet in its FIFO.
    pub fn pending_input(&self) -> usize {
        self.pending.len()
    }

    pub fn irq_errors(&self) -> u64 {
        self.irq_errors
    }

    fn refill(&mut self) {
        let room = self.serial.fifo_capacity().min(self.pending.len());
        if room == 0 {
            return;
        }
        let chunk: Vec<u8> = self.pending.drain(..room).collect();
        match self.serial.enqueue_raw_bytes(&chunk) {
            Ok(n) if n < chunk.len() => {
                // Loopback mode takes nothing: keep the rest for later.
                for &b in chunk[n..].iter().rev() {
                    self.pending.push_front(b);
                }
            }
            Ok(_) => {}
            Err(_) => self.irq_errors += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    const LSR: u8 = 5;
    const LSR_DATA_READY: u8 = 1;

    #[test]
    fn transmitted_bytes_reach_the_channel() {
        let (tx, rx) = channel();
        let mut uart = Uart::new(tx, IrqLine::default());
        for b in b"ok\n" {
            uart.write(0, *b);
        }
        let out: Vec<u8> = rx.try_iter().flatten().collect();
        assert_eq!(out, b"ok\n");
    }

    #[test]
    fn output_with_nobody_listening_is_dropped_quietly() {
        let (tx, rx) = channel();
        drop(rx);
        let mut uart = Uart::new(tx, IrqLine::default());
        uart.write(0, b'x');
        assert_eq!(uart.irq_errors(), 0);
    }

    #[test]
    fn queued_input_is_read_in_order_past_the_fifo_size() {
        let (tx, _rx) = channel();
        let mut uart = Uart::new(tx, IrqLine::default());
        let input: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        uart.queue_input(&input);
        assert_eq!(uart.pending_input(), 200 - 64);
        let mut got = Vec::new();
        while uart.read(LSR) & LSR_DATA_READY != 0 {
            got.push(uart.read(0));
        }
        assert_eq!(got, input);
        assert_eq!(uart.pending_input(), 0);
    }

    #[test]
    fn the_interrupt_eventfd_fires_on_input() {
        let (tx, _rx) = channel();
        let fd = EventFd::new(libc::EFD_NONBLOCK).unwrap();
        let mut uart = Uart::new(tx, IrqLine(Some(fd.try_clone().unwrap())));
        uart.write(1, 0x01); // IER: receive-data interrupt on
        uart.queue_input(b"x");
        assert!(fd.read().unwrap() >= 1);
    }
}

//! AS5600-style 12-bit contactless magnetic angle encoder on I²C.

use core::fmt;
use embedded_hal::i2c::I2c;

/// Counts per mechanical revolution of the 12-bit raw angle.
pub const RAW_COUNTS: u32 = 4096;

/// Register map (datasheet names).
mod reg {
    /// STATUS: magnet detected / too weak / too strong.
    pub const STATUS: u8 = 0x0B;
    /// RAW ANGLE, high byte (bits 11:8); the low byte follows at 0x0D.
    pub const RAW_ANGLE_HI: u8 = 0x0C;
}

/// STATUS bits.
mod status_bit {
    /// MD: a magnet is detected.
    pub const MD: u8 = 1 << 5;
    /// ML: the field is too weak (AGC at maximum gain).
    pub const ML: u8 = 1 << 4;
    /// MH: the field is too strong (AGC at minimum gain).
    pub const MH: u8 = 1 << 3;
}

/// Converts a 12-bit raw angle to radians in `[0, 2π)`.
///
/// Bits above the 12 data bits are ignored.
#[inline]
pub fn raw_to_radians(raw: u16) -> f32 {
    const RAD_PER_COUNT: f32 = core::f32::consts::TAU / RAW_COUNTS as f32;
    f32::from(raw & 0x0FFF) * RAD_PER_COUNT
}

/// What the encoder's STATUS register says about the magnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MagnetStatus {
    /// A magnet is in range (MD).
    pub detected: bool,
    /// The field is too weak for full accuracy (ML).
    pub too_weak: bool,
    /// The field is too strong for full accuracy (MH).
    pub too_strong: bool,
}

impl MagnetStatus {
    /// Decodes the STATUS register value.
    pub const fn from_register(value: u8) -> Self {
        Self {
            detected: value & status_bit::MD != 0,
            too_weak: value & status_bit::ML != 0,
            too_strong: value & status_bit::MH != 0,
        }
    }
}

/// Why an encoder read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncoderError<E> {
    /// The I²C transaction failed; the bus's own error is kept.
    Bus(E),
    /// STATUS reports no magnet (MD clear): the angle would be meaningless.
    MagnetNotDetected,
}

impl<E> From<E> for EncoderError<E> {
    fn from(e: E) -> Self {
        Self::Bus(e)
    }
}

impl<E: fmt::Debug> fmt::Display for EncoderError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bus(e) => write!(f, "encoder I2C bus error: {e:?}"),
            Self::MagnetNotDetected => f.write_str("encoder reports no magnet"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for EncoderError<E> {}

/// Driver for an AS5600-style encoder; owns its I²C bus (or a shared-bus
/// device handle) and returns the bus's error type.
#[derive(Debug)]
pub struct As5600<I2C> {
    i2c: I2C,
    address: u8,
}

impl<I2C: I2c> As5600<I2C> {
    /// The AS5600's fixed 7-bit I²C address.
    pub const DEFAULT_ADDRESS: u8 = 0x36;

    /// Creates a driver at [`Self::DEFAULT_ADDRESS`]. Talks to no device yet.
    pub fn new(i2c: I2C) -> Self {
        Self::with_address(i2c, Self::DEFAULT_ADDRESS)
    }

    /// Creates a driver for a compatible part at another 7-bit address.
    pub fn with_address(i2c: I2C, address: u8) -> Self {
        Self { i2c, address }
    }

    /// Gives the bus back.
    pub fn release(self) -> I2C {
        self.i2c
    }

    /// Reads and decodes the STATUS register.
    ///
    /// # Errors
    /// [`EncoderError::Bus`] if the transaction fails.
    pub fn status(&mut self) -> Result<MagnetStatus, EncoderError<I2C::Error>> {
        let mut buf = [0u8; 1];
        self.i2c
            .write_read(self.address, &[reg::STATUS], &mut buf)?;
        Ok(MagnetStatus::from_register(buf[0]))
    }

    /// Reads STATUS and fails unless a magnet is detected. Meant for start-up
    /// and periodic health checks, not every control tick.
    ///
    /// # Errors
    /// [`EncoderError::Bus`] if the transaction fails,
    /// [`EncoderError::MagnetNotDetected`] if MD is clear.
    pub fn check_magnet(&mut self) -> Result<MagnetStatus, EncoderError<I2C::Error>> {
        let status = self.status()?;
        if status.detected {
            Ok(status)
        } else {
            Err(EncoderError::MagnetNotDetected)
        }
    }

    /// Reads the 12-bit RAW ANGLE (0..=4095) in one write-read transaction.
    ///
    /// # Errors
    /// [`EncoderError::Bus`] if the transaction fails.
    pub fn raw_angle(&mut self) -> Result<u16, EncoderError<I2C::Error>> {
        let mut buf = [0u8; 2];
        self.i2c
            .write_read(self.address, &[reg::RAW_ANGLE_HI], &mut buf)?;
        Ok(u16::from_be_bytes(buf) & 0x0FFF)
    }

    /// Reads the raw angle in radians, `[0, 2π)`: one transaction, the
    /// per-tick path.
    ///
    /// # Errors
    /// [`EncoderError::Bus`] if the transaction fails.
    pub fn angle(&mut self) -> Result<f32, EncoderError<I2C::Error>> {
        self.raw_angle().map(raw_to_radians)
    }

    /// Like [`Self::angle`], but first checks that a magnet is detected
    /// (two transactions).
    ///
    /// # Errors
    /// As [`Self::check_magnet`] and [`Self::raw_angle`].
    pub fn checked_angle(&mut self) -> Result<f32, EncoderError<I2C::Error>> {
        self.check_magnet()?;
        self.angle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::ErrorKind;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    const ADDR: u8 = As5600::<Mock>::DEFAULT_ADDRESS;

    fn angle_read(hi: u8, lo: u8) -> Transaction {
        Transaction::write_read(ADDR, vec![0x0C], vec![hi, lo])
    }

    #[test]
    fn raw_angle_masks_to_12_bits() {
        let mut bus = Mock::new(&[angle_read(0xFA, 0xBC)]);
        let mut enc = As5600::new(bus.clone());
        assert_eq!(enc.raw_angle(), Ok(0x0ABC));
        bus.done();
    }

    #[test]
    fn angle_converts_to_radians() {
        // (raw, expected radians), tolerance 1e-6.
        let table = [
            (0x000u16, 0.0f32),
            (0x400, core::f32::consts::FRAC_PI_2),
            (0x800, core::f32::consts::PI),
            (0xFFF, core::f32::consts::TAU * 4095.0 / 4096.0),
        ];
        let expect: Vec<_> = table
            .iter()
            .map(|&(raw, _)| angle_read((raw >> 8) as u8, raw as u8))
            .collect();
        let mut bus = Mock::new(&expect);
        let mut enc = As5600::new(bus.clone());
        for (raw, rad) in table {
            let got = enc.angle().unwrap();
            assert!((got - rad).abs() < 1e-6, "raw {raw:#x}: {got} vs {rad}");
        }
        bus.done();
    }

    #[test]
    fn status_bits_decode() {
        let mut bus = Mock::new(&[
            Transaction::write_read(ADDR, vec![0x0B], vec![0b0010_0000]),
            Transaction::write_read(ADDR, vec![0x0B], vec![0b0011_0000]),
            Transaction::write_read(ADDR, vec![0x0B], vec![0b0000_1000]),
        ]);
        let mut enc = As5600::new(bus.clone());
        assert_eq!(
            enc.status(),
            Ok(MagnetStatus {
                detected: true,
                too_weak: false,
                too_strong: false
            })
        );
        assert_eq!(
            enc.status(),
            Ok(MagnetStatus {
                detected: true,
                too_weak: true,
                too_strong: false
            })
        );
        assert_eq!(
            enc.status(),
            Ok(MagnetStatus {
                detected: false,
                too_weak: false,
                too_strong: true
            })
        );
        bus.done();
    }

    #[test]
    fn checked_angle_refuses_without_magnet() {
        let mut bus = Mock::new(&[Transaction::write_read(ADDR, vec![0x0B], vec![0x00])]);
        let mut enc = As5600::new(bus.clone());
        assert_eq!(enc.checked_angle(), Err(EncoderError::MagnetNotDetected));
        bus.done();
    }

    #[test]
    fn checked_angle_reads_status_then_angle() {
        let mut bus = Mock::new(&[
            Transaction::write_read(ADDR, vec![0x0B], vec![0x20]),
            angle_read(0x08, 0x00),
        ]);
        let mut enc = As5600::new(bus.clone());
        let a = enc.checked_angle().unwrap();
        assert!((a - core::f32::consts::PI).abs() < 1e-6);
        bus.done();
    }

    #[test]
    fn bus_error_is_returned_typed() {
        let mut bus = Mock::new(&[Transaction::write_read(ADDR, vec![0x0C], vec![0, 0])
            .with_error(ErrorKind::NoAcknowledge(
                embedded_hal::i2c::NoAcknowledgeSource::Address,
            ))]);
        let mut enc = As5600::new(bus.clone());
        assert_eq!(
            enc.raw_angle(),
            Err(EncoderError::Bus(ErrorKind::NoAcknowledge(
                embedded_hal::i2c::NoAcknowledgeSource::Address
            )))
        );
        bus.done();
    }

    #[test]
    fn custom_address_is_used() {
        let bus = Mock::new(&[Transaction::write_read(0x40, vec![0x0C], vec![0x01, 0x02])]);
        let mut enc = As5600::with_address(bus, 0x40);
        assert_eq!(enc.raw_angle(), Ok(0x0102));
        enc.release().done();
    }
}

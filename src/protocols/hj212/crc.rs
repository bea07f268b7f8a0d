//! The three CRCs real HJ 212 traffic carries, a per-peer setting.

/// Which CRC a peer writes after the data segment (4 hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Crc {
    /// The standard's: register 0xFFFF; per byte `crc = (crc >> 8) ^ byte`,
    /// then 8 rounds of shift right with 0xA001 on a carried-out 1; written
    /// high byte first. (One widely used Java library calls it "CRC16Ansi".)
    #[default]
    Standard,
    /// CRC-16/MODBUS (the byte XORed into the low byte), high byte first.
    ModbusHighFirst,
    /// CRC-16/MODBUS, low byte first (its wire order in Modbus RTU).
    ModbusLowFirst,
}

impl Crc {
    pub const ALL: [Crc; 3] = [Crc::Standard, Crc::ModbusHighFirst, Crc::ModbusLowFirst];

    /// The 16-bit number whose 4 hex digits (most significant first) the
    /// peer writes for `segment`.
    pub fn of(self, segment: &[u8]) -> u16 {
        match self {
            Crc::Standard => standard(segment),
            Crc::ModbusHighFirst => modbus(segment),
            Crc::ModbusLowFirst => modbus(segment).swap_bytes(),
        }
    }

    /// The variants that would have written `written` for `segment`: lets a
    /// receiver tell an operator which setting a peer needs.
    pub fn matching(segment: &[u8], written: u16) -> impl Iterator<Item = Crc> + '_ {
        Crc::ALL
            .into_iter()
            .filter(move |c| c.of(segment) == written)
    }
}

fn rounds(mut crc: u16) -> u16 {
    for _ in 0..8 {
        crc = if crc & 1 != 0 {
            (crc >> 1) ^ 0xa001
        } else {
            crc >> 1
        };
    }
    crc
}

fn standard(data: &[u8]) -> u16 {
    data.iter()
        .fold(0xffff, |crc, b| rounds((crc >> 8) ^ u16::from(*b)))
}

fn modbus(data: &[u8]) -> u16 {
    data.iter()
        .fold(0xffff, |crc, b| rounds(crc ^ u16::from(*b)))
}

-- ISAAC-like ReRAM accelerator (Shafiee et al., "ISAAC: A Convolutional Neural
-- Network Accelerator with In-Situ Analog Arithmetic in Crossbars", ISCA 2016),
-- used here for training with the PipeLayer-style model of rp.reram.
-- Every number carries its source; see data/reram/README.md for the formulas.
-- ISAAC's per-component numbers (its Table 2, 32 nm) are taken as Accelergy's
-- ISAAC library restates them with their arithmetic:
-- Accelergy-Project/accelergy-library-plug-in, library/isaac/*.csv, and
-- hwcomponents-library, hwcomponents_library/library/isaac.py.
return {
  name = "isaac",
  description = "ISAAC-CE-like chip: 16,128 crossbars of 128x128, 2-bit cells, 16-bit weights, " ..
    "bit-serial inputs; training with a transposed copy and gradient arrays",
  -- ISAAC section 4 / Table 2: 128x128 arrays, 2 bits per cell, 16-bit
  -- weights spread over 8 cells, inputs fed one bit per 100 ns cycle (1-bit DACs).
  xbar = {rows = 128, cols = 128, weight_bits = 16, cell_bits = 2, signed = "offset"},
  input_bits = 16,          -- bit-serial 16-bit inputs (ISAAC: 16 cycles per MVM)
  t_cycle = 100e-9,         -- s, crossbar read cycle (ISAAC: 100 ns)
  -- Training on ISAAC's arrays (ISAAC itself only infers). The backward pass
  -- follows the PUMA/PANTHER simulator's training configuration
  -- (Aayush-Ankit/puma-simulator, include/config.py: "for training 8-fw, 8-bw
  -- and 16-delta physical xbars"; src/ima.py: "1 mvmu for fw, 1 mvmu for bw,
  -- 1 mvmu (2X width) for delta"): a separate copy of the weights for the
  -- error pass, and arrays beside them for the weight gradient (PipeLayer's
  -- scheme: errors written in, inputs streamed through).
  backward = "transposed_copy",
  gradient = "arrays",
  -- Writes: puma-simulator include/constants.py, "lumped power for xbar rd/wr
  -- (for whole array) - includes peripherals", from the Sandia ReRAM training
  -- co-design study (Marinella et al., IEEE JETCAS 2018, Tables 3 and 5; the
  -- simulator's include/backup/constants_backup.py names it), scaled to a
  -- 128x128 array: xbar_wr_lat = 351 us / 32 = 10.97 us per array written row
  -- by row, and 676 nJ / 32 = 21.1 nJ per array. Per row and per cell:
  t_write_row = 351e-6 / 32 / 128,    -- 85.7 ns per row (a row's cells in parallel)
  e_write_cell = 676e-9 / 32 / (128 * 128), -- 1.29 pJ per cell written (one full write)
  -- The lumped figure covers one full write of a cell however many program-
  -- and-verify pulses it takes; NeuroSim (DNN_NeuroSim_V2.0, Param.cpp,
  -- ProcessingUnit.cpp) instead charges ceil(|dG| / dG_min) pulses of 50 ns at
  -- up to 32 levels. write_pulses records the pulses this figure stands for as
  -- unknown (nil); a preset that counts pulses sets e_write_cell = pulses x energy.
  write_pulses = nil,
  -- Energy per action (J):
  -- crossbar read: 2.4 mW for an IMA's 8 arrays (Table 2) / 8, one 100 ns cycle
  e_xbar_cycle = 0.3e-3 * 100e-9,
  -- 8-bit 1.2 GS/s SAR ADC: ISAAC Table 2 gives 16 mW and 9,600 um^2 for the
  -- 8 ADCs of an IMA (9.6 GS/s together), i.e. 2 mW and 1,200 um^2 per ADC,
  -- 2 mW / 1.2 GS/s = 1.667 pJ per conversion (Accelergy isaac_adc.csv). ISAAC
  -- scales it from Kull et al., ISSCC 2013 ("A 3.1mW 8b 1.2GS/s single-channel
  -- asynchronous SAR ADC", 32 nm SOI: 2.58 pJ per conversion).
  e_adc = 2e-3 / 1.2e9,
  -- 1-bit DAC, one row drive: Accelergy isaac_dac.csv derives it from 4 mW for 8x128 DACs as 4e-3 /
  -- (128 * 8 * 1e7 * 1.2) * 128 / 100 J
  e_dac = 0.41667e-12,
  -- eDRAM 64 KB: 20.45 pJ per 256-bit access (Accelergy isaac_eDRAM.csv, from 20.7 mW), per 16-bit
  -- word
  e_buffer_word = 20.45e-12 / 16,
  -- router: 20.74 pJ per 256 bits (Accelergy isaac_router.csv, from 42 mW shared by 4 tiles)
  e_router_word = 20.74e-12 / 16,
  -- shift-and-add of one partial sum: 0.2 mW for 4 units at 9.6 GS/s (Accelergy isaac.py)
  e_shift_add = 0.021e-12,
  -- Area (mm^2): crossbar 25 um^2 (Table 2: 8 arrays, 0.0002 mm^2); its
  -- periphery: one 8-bit ADC (1,200 um^2), 128 1-bit DACs (170 um^2 for 8x128:
  -- 0.166 um^2 each), and the IMA's 4 shift-and-add units (60 um^2 each) shared by 8 arrays.
  a_xbar = 25e-6,
  a_periph = (1200 + 128 * 0.166015625 + 30) * 1e-6,
  -- The rest of a tile, per crossbar (a tile has 12 IMAs x 8 = 96 arrays):
  -- eDRAM 83,000 um^2, its bus 12 x 7,500 um^2, a quarter of a 150,000 um^2
  -- router (Accelergy isaac_eDRAM.csv, isaac.py). Left out: input/output
  -- registers, sample-and-hold, sigmoid and pooling units, and the chip's
  -- HyperTransport links (23 mm^2 per link in Accelergy isaac_chip2chip_link.csv).
  -- Only with backward = "bidirectional": the column side's ADC and 128 DACs
  -- (as the row side's), which reading from the columns needs.
  a_periph_backward = (1200 + 128 * 0.166015625) * 1e-6,
  a_other = (83000 + 12 * 7500 + 150000 / 4) * 1e-6 / 96,
  -- The chip: ISAAC-CE has 168 tiles x 12 IMAs x 8 crossbars = 16,128 crossbars.
  chip_crossbars = 168 * 12 * 8,
  -- Reprogramming when the network does not fit: crossbars programmed at once
  -- (one per IMA: 168 x 12 -- an assumption: one write driver set per IMA) and
  -- weights streamed in over ISAAC's chip-to-chip HyperTransport link
  -- (6.4 GB/s; 26 pJ per 128-bit transfer in Accelergy isaac_chip2chip_link.csv).
  write_parallel = 168 * 12,
  offchip_bytes_per_s = 6.4e9,
  e_offchip_bit = 26e-12 / 128,
}

-- PipeLayer-like ReRAM training accelerator (Song et al., "PipeLayer: A
-- Pipelined ReRAM-Based Accelerator for Deep Learning", HPCA 2017): the
-- inter-layer training pipeline and weight replication that rp.reram models.
-- Numbers that PipeLayer does not give come from the ISAAC preset (same
-- sources, see isaac.lua) and are marked "as ISAAC".
return {
  name = "pipelayer",
  description = "PipeLayer-like chip: 128x128 crossbars, 4-bit cells, 16-bit weights " ..
    "(4 cells each), bit-serial inputs; transposed copy and gradient arrays",
  -- PipeLayer: 128x128 ReRAM arrays with 4-bit cells, so 16-bit weights take
  -- 4 cells. (Section 4 of the paper; the text was not at hand to re-check
  -- here, so treat the cell bits as an assumption.)
  xbar = {rows = 128, cols = 128, weight_bits = 16, cell_bits = 4, signed = "offset"},
  -- PipeLayer keeps the weights for the forward pass and a copy for the error
  -- pass in separate arrays, and computes the weight gradient with serial
  -- writes and reads of arrays (PANTHER, Ankit et al., arXiv 1912.11516:
  -- earlier ReRAM accelerators "suffer from inefficiency due to the use of
  -- serial reads and writes for performing the weight gradient and update
  -- step"; puma-simulator include/mlpPanther/constants_pipelayer.py models
  -- this serial access for PipeLayer).
  backward = "transposed_copy",
  gradient = "arrays",
  input_bits = 16,          -- inputs fed bit by bit (spike-coded in PipeLayer)
  t_cycle = 100e-9,         -- s per read cycle (as ISAAC)
  t_write_row = 351e-6 / 32 / 128, -- as ISAAC (puma-simulator, also in constants_pipelayer.py)
  e_write_cell = 676e-9 / 32 / (128 * 128), -- as ISAAC
  e_xbar_cycle = 0.3e-3 * 100e-9, -- as ISAAC
  e_adc = 2e-3 / 1.2e9,     -- as ISAAC (PipeLayer uses integrate-and-fire units instead)
  e_dac = 0.41667e-12,      -- as ISAAC
  e_buffer_word = 20.45e-12 / 16, -- as ISAAC
  e_router_word = 20.74e-12 / 16, -- as ISAAC
  e_shift_add = 0.021e-12,  -- as ISAAC
  a_xbar = 25e-6,           -- as ISAAC
  a_periph = (1200 + 128 * 0.166015625 + 30) * 1e-6, -- as ISAAC
  -- Only with backward = "bidirectional": the column side's ADC and 128 DACs
  -- (as the row side's), which reading from the columns needs.
  a_periph_backward = (1200 + 128 * 0.166015625) * 1e-6,
  a_other = (83000 + 12 * 7500 + 150000 / 4) * 1e-6 / 96, -- as ISAAC
  -- A chip of the same crossbar budget as the ISAAC preset, so that the two
  -- differ only in cell bits (PipeLayer sizes its chip per network).
  chip_crossbars = 16128,
  write_parallel = 2016,    -- as ISAAC
  offchip_bytes_per_s = 6.4e9, -- as ISAAC
  e_offchip_bit = 26e-12 / 128, -- as ISAAC
}

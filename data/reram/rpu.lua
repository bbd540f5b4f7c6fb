-- Resistive processing unit (RPU) training chip after Gokmen & Vlasov,
-- "Acceleration of Deep Neural Network Training with Resistive Cross-Point
-- Devices: Design Considerations", Front. Neurosci. 10:333 (2016), the scheme
-- IBM's aihwkit implements in its analog tiles (IBM/aihwkit,
-- src/aihwkit/simulator/tiles/analog.py, AnalogTile: "implements the analog
-- RPU tile model described in Gokmen & Vlasov (2016)"; the backward pass is
-- "identical to the forward direction except that the transposed weight
-- matrix is used"; the update is a parallel outer product by coincidences of
-- stochastic pulse trains). One analog device holds one weight, and forward,
-- backward and update run on the same array.
-- Numbers marked "assumption" are not from these sources.
return {
  name = "rpu",
  description = "RPU-style chip: 128x128 arrays of analog devices (one per weight), forward, " ..
    "error and outer-product update on the same arrays",
  -- One device per weight: cell_bits = weight_bits, so slices = 1. aihwkit's
  -- devices have about 1,200 states (configs/devices.py PulsedDevice: w in
  -- [-0.6, 0.6] in steps dw_min = 0.001); 10 bits stands for that. The array
  -- size is an assumption (Gokmen & Vlasov discuss 4096x4096 arrays; 128x128
  -- keeps the pruning groups comparable with the other presets).
  xbar = {rows = 128, cols = 128, weight_bits = 10, cell_bits = 10, signed = "offset"},
  backward = "bidirectional",
  gradient = "outer_product",
  -- Analog inputs applied in one integration window (aihwkit IOParameters:
  -- 7-bit input resolution, inp_res = 1/(2**7 - 2)), so one read per MVM. The
  -- 80 ns window is Gokmen & Vlasov's integration time as widely quoted (an
  -- assumption here: the paper's text was not at hand to re-check).
  input_bits = 1,
  t_cycle = 80e-9,
  -- Update: stochastic pulse trains of desired_bl = 31 pulses (aihwkit
  -- parameters/training.py, UpdateParameters default). Pulse width 1 ns: an
  -- assumption (the order Gokmen & Vlasov discuss). Energy per cell and update
  -- cycle: an upper bound assuming every pulse coincides, at MNSIM-2.0's write
  -- power per cell, V^2/R = (1.5 V)^2 / 100 kOhm = 22.5 uW (thu-nics/MNSIM-2.0,
  -- SimConfig.ini Write_Voltage and Device_Resistance; Device.py).
  update_pulses = 31,
  t_update_pulse = 1e-9,
  e_update_cell = 31 * 22.5e-6 * 1e-9,
  -- Programming (only when the network does not fit): as ISAAC (isaac.lua).
  t_write_row = 351e-6 / 32 / 128,
  e_write_cell = 676e-9 / 32 / (128 * 128),
  write_parallel = 2016,
  offchip_bytes_per_s = 6.4e9,
  e_offchip_bit = 26e-12 / 128,
  -- Periphery as ISAAC's (assumption; aihwkit's presets use 7-bit DACs and
  -- 9-bit ADCs): one ADC and 128 DACs per side. The second side is what
  -- bidirectional reads add (a_periph_backward).
  e_xbar_cycle = 0.3e-3 * 80e-9,
  e_adc = 2e-3 / 1.2e9,
  e_dac = 0.41667e-12,
  e_shift_add = 0.021e-12,
  e_buffer_word = 20.45e-12 / 16,
  e_router_word = 20.74e-12 / 16,
  a_xbar = 25e-6,
  a_periph = (1200 + 128 * 0.166015625 + 30) * 1e-6,
  a_periph_backward = (1200 + 128 * 0.166015625) * 1e-6,
  a_other = (83000 + 12 * 7500 + 150000 / 4) * 1e-6 / 96,
  chip_crossbars = 16128,   -- assumption: ISAAC-CE's budget, for comparison
}

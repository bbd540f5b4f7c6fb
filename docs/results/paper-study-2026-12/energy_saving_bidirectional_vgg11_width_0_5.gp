# gnuplot script written by realprune; run it in this folder: gnuplot energy_saving_bidirectional_vgg11_width_0_5.gp
set datafile separator ','
set key outside right top
set grid ytics
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border -1
set boxwidth 0.6
set yrange [0:*]
set datafile columnheaders
set title "vgg11 (width 0.5): modeled training after the last round, error pass by bidirectional reads"
set ylabel "energy saving against dense"
set terminal pngcairo size 900,560 noenhanced font 'sans,11'
set output "energy_saving_bidirectional_vgg11_width_0_5.png"
plot "energy_saving_bidirectional_vgg11_width_0_5.csv" using 2:xtic(1) title "energy_saving_bidirectional"
set terminal svg size 900,560 noenhanced font 'sans,11'
set output "energy_saving_bidirectional_vgg11_width_0_5.svg"
replot

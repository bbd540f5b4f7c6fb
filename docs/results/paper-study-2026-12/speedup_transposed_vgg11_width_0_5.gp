# gnuplot script written by realprune; run it in this folder: gnuplot speedup_transposed_vgg11_width_0_5.gp
set datafile separator ','
set key outside right top
set grid ytics
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border -1
set boxwidth 0.6
set yrange [0:*]
set datafile columnheaders
set title "vgg11 (width 0.5): modeled training after the last round, error pass on a transposed copy"
set ylabel "speedup against dense"
set terminal pngcairo size 900,560 noenhanced font 'sans,11'
set output "speedup_transposed_vgg11_width_0_5.png"
plot "speedup_transposed_vgg11_width_0_5.csv" using 2:xtic(1) title "speedup_transposed"
set terminal svg size 900,560 noenhanced font 'sans,11'
set output "speedup_transposed_vgg11_width_0_5.svg"
replot

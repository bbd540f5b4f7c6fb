# gnuplot script written by realprune; run it in this folder: gnuplot accuracy_vs_weights_vgg11_width_0_5.gp
set datafile separator ','
set key outside right top
set grid
set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05
set title "vgg11 (width 0.5): test accuracy against weights remaining (mean ± std over seeds)"
set xlabel "fraction of prunable weights remaining (log scale)"
set ylabel "test accuracy"
set logscale x
set terminal pngcairo size 900,560 noenhanced font 'sans,11'
set output "accuracy_vs_weights_vgg11_width_0_5.png"
plot "accuracy_vs_weights_vgg11_width_0_5.csv" index 0 using 2:3:4 with yerrorlines title "aligned", \
     "accuracy_vs_weights_vgg11_width_0_5.csv" index 1 using 2:3:4 with yerrorlines title "aligned+reinit", \
     "accuracy_vs_weights_vgg11_width_0_5.csv" index 2 using 2:3:4 with yerrorlines title "cgp", \
     "accuracy_vs_weights_vgg11_width_0_5.csv" index 3 using 2:3:4 with yerrorlines title "cgp+reinit", \
     "accuracy_vs_weights_vgg11_width_0_5.csv" index 4 using 2:3:4 with yerrorlines title "filter", \
     "accuracy_vs_weights_vgg11_width_0_5.csv" index 5 using 2:3:4 with yerrorlines title "lth", \
     "accuracy_vs_weights_vgg11_width_0_5.csv" index 6 using 2:3:4 with yerrorlines title "lth+reinit", \
     "accuracy_vs_weights_vgg11_width_0_5.csv" index 7 using 2:3:4 with yerrorlines title "random", \
     "accuracy_vs_weights_vgg11_width_0_5.csv" index 8 using 2:3:4 with yerrorlines title "random+reinit", \
     "accuracy_vs_weights_vgg11_width_0_5.csv" index 9 using 2:3:4 with yerrorlines title "realprune", \
     "accuracy_vs_weights_vgg11_width_0_5.csv" index 10 using 2:3:4 with yerrorlines title "realprune+reinit", \
     "accuracy_vs_weights_vgg11_width_0_5.csv" index 11 using 2:3:4 with yerrorlines title "sensitive", \
     "accuracy_vs_weights_vgg11_width_0_5.csv" index 12 using 2:3:4 with yerrorlines title "sensitive+reinit"
set terminal svg size 900,560 noenhanced font 'sans,11'
set output "accuracy_vs_weights_vgg11_width_0_5.svg"
replot

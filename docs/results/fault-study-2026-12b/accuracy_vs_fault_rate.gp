# gnuplot script written by realprune; run it in this folder: gnuplot accuracy_vs_fault_rate.gp
set datafile separator ','
set key outside right top
set grid
set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05
set title "test accuracy against the stuck-at rate (mean ± std over seeds)"
set xlabel "fraction of cells stuck (90% SA0, 10% SA1)"
set ylabel "test accuracy"
set terminal pngcairo size 900,560 noenhanced font 'sans,11'
set output "accuracy_vs_fault_rate.png"
plot "accuracy_vs_fault_rate.csv" index 0 using 2:3:4 with yerrorlines title "dense", \
     "accuracy_vs_fault_rate.csv" index 1 using 2:3:4 with yerrorlines title "realprune", \
     "accuracy_vs_fault_rate.csv" index 2 using 2:3:4 with yerrorlines title "cgp", \
     "accuracy_vs_fault_rate.csv" index 3 using 2:3:4 with yerrorlines title "lth"
set terminal svg size 900,560 noenhanced font 'sans,11'
set output "accuracy_vs_fault_rate.svg"
replot

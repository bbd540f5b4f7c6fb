# gnuplot script written by realprune; run it in this folder: gnuplot fault_aware.gp
set datafile separator ','
set key outside right top
set grid
set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05
set title "fault-aware pruning and remapping at equal crossbars (mean ± std over seeds)"
set xlabel "fraction of cells stuck (90% SA0, 10% SA1)"
set ylabel "test accuracy"
set terminal pngcairo size 900,560 noenhanced font 'sans,11'
set output "fault_aware.png"
plot "fault_aware.csv" index 0 using 2:3:4 with yerrorlines title "realprune/packed", \
     "fault_aware.csv" index 1 using 2:3:4 with yerrorlines title "realprune/packed+remap", \
     "fault_aware.csv" index 2 using 2:3:4 with yerrorlines title "realprune/in-place", \
     "fault_aware.csv" index 3 using 2:3:4 with yerrorlines title "realprune/in-place+remap", \
     "fault_aware.csv" index 4 using 2:3:4 with yerrorlines title "fault-aware/in-place", \
     "fault_aware.csv" index 5 using 2:3:4 with yerrorlines title "fault-aware/in-place+remap"
set terminal svg size 900,560 noenhanced font 'sans,11'
set output "fault_aware.svg"
replot

# gnuplot script written by realprune; run it in this folder: gnuplot accuracy_vs_crossbars_resnet20.gp
set datafile separator ','
set key outside right top
set grid
set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05
set title "resnet20: test accuracy against the crossbars the network needs"
set xlabel "crossbars (ISAAC 128x128, 16-bit weights in 2-bit cells)"
set ylabel "test accuracy"
set terminal pngcairo size 900,560 noenhanced font 'sans,11'
set output "accuracy_vs_crossbars_resnet20.png"
plot "accuracy_vs_crossbars_resnet20.csv" index 0 using 2:3:4 with yerrorlines title "cgp", \
     "accuracy_vs_crossbars_resnet20.csv" index 1 using 2:3:4 with yerrorlines title "cgp+reinit", \
     "accuracy_vs_crossbars_resnet20.csv" index 2 using 2:3:4 with yerrorlines title "lth", \
     "accuracy_vs_crossbars_resnet20.csv" index 3 using 2:3:4 with yerrorlines title "lth+reinit", \
     "accuracy_vs_crossbars_resnet20.csv" index 4 using 2:3:4 with yerrorlines title "realprune", \
     "accuracy_vs_crossbars_resnet20.csv" index 5 using 2:3:4 with yerrorlines title "realprune+reinit"
set terminal svg size 900,560 noenhanced font 'sans,11'
set output "accuracy_vs_crossbars_resnet20.svg"
replot

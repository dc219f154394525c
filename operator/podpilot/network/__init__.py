"""Pure flannel subnet model: nodes, net-conf and pod IPs in; subnet rows and findings out."""

"""The FlannelSubnetReport and FlannelNetworkReport in and out, and Event wording (pure)."""

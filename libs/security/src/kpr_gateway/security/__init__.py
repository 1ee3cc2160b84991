"""kpr_gateway.security"""

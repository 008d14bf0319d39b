Feature: Prometheus metrics

  Background:
    Given the retail estate

  @api-11
  Scenario: Metrics are served without authentication in the Prometheus text format
    Given I send no Authorization header
    When I send GET /metrics
    Then the response status is 200
    And the response content type is "text/plain; version=0.0.4"

  @api-11 @domain-8
  Scenario: The idempotency counters are exposed once writes were processed
    Given "Store-001" sold 1 "SKU1" at "2024-12-07T12:00:00"
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    And I send the same request again
    And I send GET /metrics
    Then the response status is 200
    And the response lists the metric "stock_idempotency_hits_total"
    And the response lists the metric "stock_idempotency_misses_total"

Feature: Idle pots are evicted and reloaded without clients seeing a difference

  Background:
    Given the retail estate
    And the service setting STOCK_POT_UNLOAD_AFTER is "200ms"
    And the service setting STOCK_POT_UNLOAD_CHECK_INTERVAL is "50ms"

  @domain-11
  Scenario: Deliver 20, wait until the pot is unloaded, deliver 10: reads 30
    Given "WH01" received a delivery of 20 "p1" at "2024-12-07T08:00:00"
    When I wait until no stock pots are loaded
    And "WH01" receives a delivery of 10 "p1" at "2024-12-07T09:00:00"
    Then the stock of "p1" at "WH01" is 30.0, last updated "2024-12-07T09:00:00"

  @domain-11 @domain-3
  Scenario: A late event after a reload is still folded in business-time order
    Given "Store-001" received a delivery of 20 "p1" at "2024-12-07T10:00:00"
    When I wait until no stock pots are loaded
    And "Store-001" sells 5 "p1" at "2024-12-07T09:00:00"
    Then the stock of "p1" at "Store-001" is 20.0, pending -5.0, last updated "2024-12-07T10:00:00"

  @domain-11 @domain-8
  Scenario: A replay after a reload is still recognised
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":5}]}
      """
    Then the response status is 201
    When I wait until no stock pots are loaded
    And I send the same request again
    Then the response is 201, byte for byte the first answer
    And the stock of "p1" at "WH01" is 5.0

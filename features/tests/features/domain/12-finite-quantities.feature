Feature: Quantities stay finite doubles

  Background:
    Given the retail estate

  @domain-2
  Scenario: A sale that would take a pot past the largest double is refused and applied nowhere
    Given "p1" at "Store-001" was counted at 1.7e308 at "2024-12-07T08:00:00"
    When I send POST /locations/Store-001/products/p1/sales with:
      """
      {"requestId":"s1","quantity":-1.7e308,"soldAt":"2024-12-07T09:00:00"}
      """
    Then the response is 400 with body {"status":"BadRequest"}
    And the stock of "p1" at "Store-001" is 1.7e308, last updated "2024-12-07T08:00:00"
    When I send POST /locations/Store-001/products/p1/sales with:
      """
      {"requestId":"s1","quantity":1.7e308,"soldAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201
    And the stock of "p1" at "Store-001" is 0.0, last updated "2024-12-07T09:00:00"

  @domain-2
  Scenario: A shortfall that would take pending past the largest double is refused
    Given "p1" at "Store-001" was counted at -1.7e308 at "2024-12-07T08:00:00"
    When I send POST /locations/Store-001/products/p1/sales with:
      """
      {"requestId":"s1","quantity":1.7e308,"soldAt":"2024-12-07T09:00:00"}
      """
    Then the response is 400 with body {"status":"BadRequest"}
    And the stock of "p1" at "Store-001" is -1.7e308, last updated "2024-12-07T08:00:00"

  @domain-2 @domain-5
  Scenario: A delivery with one line that would overflow records none of its lines
    Given "p1" at "WH01" was counted at 1.7e308 at "2024-12-07T08:00:00"
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"Acme Foods","supplierRef":"PO-1","deliveredAt":"2024-12-07T09:00:00",
       "products":[{"productId":"p2","quantity":5},{"productId":"p1","quantity":1.7e308}]}
      """
    Then the response is 400 with body {"status":"BadRequest"}
    And the stock of "p2" at "WH01" has never been updated
    And the stock of "p1" at "WH01" is 1.7e308, last updated "2024-12-07T08:00:00"

  @domain-2 @domain-6
  Scenario: A move that would overflow its destination changes neither side
    Given the service setting STOCK_SHARDS is "1"
    And "WH01" and "Store-001" are on one shard
    And "WH01" received a delivery of 1e308 "p1" at "2024-12-07T08:00:00"
    And "p1" at "Store-001" was counted at 1.7e308 at "2024-12-07T08:00:00"
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Store-001","quantity":1e308,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 400 with body {"status":"BadRequest"}
    And the stock of "p1" at "WH01" is 1e308, last updated "2024-12-07T08:00:00"
    And the stock of "p1" at "Store-001" is 1.7e308, last updated "2024-12-07T08:00:00"

  @domain-4
  Scenario: A total of finite pots beyond the largest double is written out, never as 0.0
    Given "p1" at "Store-001" was counted at 1.7e308 at "2024-12-07T08:00:00"
    And "p1" at "Central Store" was counted at 1.7e308 at "2024-12-07T08:00:00"
    Then the total of "p1" at "London" is beyond every double, written 3.3999999999999999e308
    And the total of "p1" at "Store-001" is 1.7e308
